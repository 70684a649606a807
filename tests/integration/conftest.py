"""Every statement the integration tests execute names the account of the rows it touches."""
from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.support.ownership import (
    ACCOUNT_OWNED,
    GLOBAL_STATEMENTS,
    storage_method,
    unrouted_tables,
)


@pytest.fixture(autouse=True)
def statements_name_their_account():
    """Fails a test whose repository statements reached an account-owned table without
    filtering by account (GLOBAL_STATEMENTS lists the methods that may, with why)."""
    unrouted: list[str] = []

    def check(conn, cursor, statement, parameters, context, executemany) -> None:
        compiled = getattr(context, "compiled", None)
        method = storage_method()
        if (compiled is not None and method is not None and method not in GLOBAL_STATEMENTS
                and unrouted_tables(compiled, ACCOUNT_OWNED)):
            unrouted.append(f"{method}: {statement}")

    event.listen(Engine, "before_cursor_execute", check)
    yield
    event.remove(Engine, "before_cursor_execute", check)
    assert unrouted == []
