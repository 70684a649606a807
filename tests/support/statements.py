"""The SQL statements an engine runs, as a test watches them."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def statements(engine):
    """The statements ``engine`` runs inside the block, whitespace collapsed, in order."""
    seen: list[str] = []

    def watch(conn, cursor, statement, *rest):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", watch)
