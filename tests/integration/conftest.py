"""Every statement the integration tests execute names the account of the rows it touches."""
from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.support.ownership import CHECKED_TABLES, issued_by_storage, unrouted_tables


@pytest.fixture(autouse=True)
def statements_name_their_account():
    """Fails a test that ran a statement on a checked table without filtering by account."""
    unrouted: list[str] = []

    def check(conn, cursor, statement, parameters, context, executemany) -> None:
        compiled = getattr(context, "compiled", None)
        if (compiled is not None and issued_by_storage()
                and unrouted_tables(compiled, CHECKED_TABLES)):
            unrouted.append(statement)

    event.listen(Engine, "before_cursor_execute", check)
    yield
    event.remove(Engine, "before_cursor_execute", check)
    assert unrouted == []
