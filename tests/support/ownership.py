"""Which statements touch account-owned tables without naming the account.

A distributed PostgreSQL (Citus) sends a query to one node only when it filters its
distributed tables by the distribution column, account_id; tests/integration/conftest.py
checks every statement the integration tests execute with ``unrouted_tables``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from sqlalchemy import Table
from sqlalchemy.sql import Delete, Insert, Select, Update, visitors
from sqlalchemy.sql.elements import BinaryExpression, ColumnClause

from service.storage.tables import metadata

#: Tables that belong to no account, with the reason.
GLOBAL_TABLES = {
    "accounts": "the accounts themselves: a reference table",
    "auth_failures": "counted per client address, before any account is known",
}
ACCOUNT_OWNED = frozenset(metadata.tables) - frozenset(GLOBAL_TABLES)
#: Account-owned tables some repository statements still reach without their account, and
#: why; every statement on any other account-owned table is checked.
UNCHECKED_TABLES = {
    "api_keys": "a key id arrives without its account: the key id -> account lookup",
    "campaigns": "open links resolve a public id alone; the scheduled jobs' due lists scan "
                 "every account (one query a round)",
    "invitations": "tokens issued so far name no account (nonce lookups); the mail claim "
                   "scans every account",
    "outbox": "the delivery claim and its lease updates select by entry id across accounts",
    "contacts": "updates by contact id (unsubscribe, erasure) and joins on contact id alone",
    "responses": "updates and reads by response id alone",
}
CHECKED_TABLES = ACCOUNT_OWNED - frozenset(UNCHECKED_TABLES)


def _tables(statement) -> set[str]:
    return {element.name for element in visitors.iterate(statement)
            if isinstance(element, Table)}


def _filtered(statement) -> set[str]:
    """Tables whose account_id the statement compares with something."""
    named = set()
    for element in visitors.iterate(statement):
        if isinstance(element, BinaryExpression):
            for side in (element.left, element.right):
                if isinstance(side, ColumnClause) and side.name == "account_id" \
                        and isinstance(side.table, Table):
                    named.add(side.table.name)
    return named


_INSERT_COLUMNS = re.compile(r"INSERT INTO (\w+) \(([^)]*)\)")


def unrouted_tables(compiled, checked: frozenset[str]) -> set[str]:
    """The ``checked`` tables a compiled statement reads or writes without naming the
    account: an INSERT without an account_id column, a SELECT, UPDATE or DELETE without
    a comparison of the table's account_id."""
    statement = compiled.statement
    if isinstance(statement, Insert):
        table, columns = _INSERT_COLUMNS.match(compiled.string).groups()
        missing = {table} & checked if "account_id" not in columns.split(", ") else set()
        return missing | (unrouted_tables_of(statement.select, checked)
                          if statement.select is not None else set())
    return unrouted_tables_of(statement, checked)


def unrouted_tables_of(statement, checked: frozenset[str]) -> set[str]:
    if not isinstance(statement, (Select, Update, Delete)):
        return set()
    return (_tables(statement) & checked) - _filtered(statement)


_REPOSITORIES = str(Path(__file__).resolve().parents[2] / "service" / "storage" / "repositories")


def issued_by_storage() -> bool:
    """Whether the statement being executed comes from a repository (not from a test's own
    look at the database, nor from a migration)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.startswith(_REPOSITORIES):
            return True
        frame = frame.f_back
    return False
