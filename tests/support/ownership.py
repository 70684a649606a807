"""Which statements touch account-owned tables without naming the account.

A distributed PostgreSQL (Citus) sends a query to one node only when it filters its
distributed tables by the distribution column, account_id; tests/integration/conftest.py
checks every repository statement the integration tests execute with ``unrouted_tables``.
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
    "directory": "identifiers that arrive without their account: a reference table",
}
ACCOUNT_OWNED = frozenset(metadata.tables) - frozenset(GLOBAL_TABLES)
#: Repository methods whose statements read across accounts, and why each may.
GLOBAL_STATEMENTS = {
    "DirectoryRepository._account_of": "key ids and open links' public ids arrive without "
                                       "their account: the directory names it, or for a row "
                                       "of the release before it the row itself",
    "DirectoryRepository.account_of_campaign_id": "the operator names a campaign by id only",
    "DirectoryRepository.account_of_nonce": "tokens issued before they named their account",
    "CampaignRepository.due_dumps": "which campaigns have a dump due: one scan a worker round, "
                                    "each dump then claimed within its account",
    "CampaignRepository.recurring": "which campaigns recur: one scan a worker round, each "
                                    "recurrence then claimed within its account",
    "InvitationRepository.claim_due_mail": "which accounts have mail due (no locks); each "
                                           "claim then reads and locks one account's rows",
    "OutboxRepository.claim_due": "which accounts have deliveries due (no locks); each claim "
                                  "then reads and locks one account's rows",
    "InvitationRepository.count_due_mail": "a metric of the whole service",
    "Repository._purge": "which accounts have rows past their retention (no locks); each "
                         "DELETE then touches one account's rows",
    "OutboxRepository.backlog": "a metric of the whole service",
}


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


_REPOSITORIES = Path(__file__).resolve().parents[2] / "service" / "storage" / "repositories"
#: Helpers every repository calls: the method to name is their caller (the helpers whose
#: statements differ by design are named themselves).
_SHARED = str(_REPOSITORIES / "base.py")
_NAMED_HELPERS = ("Repository._purge", "Repository._purge_of")


def storage_method() -> str | None:
    """The repository method executing the current statement (None for a test's own look at
    the database, or a migration)."""
    frame = sys._getframe(1)
    while frame is not None:
        name, method = frame.f_code.co_filename, frame.f_code.co_qualname
        if name.startswith(str(_REPOSITORIES)) and (name != _SHARED or method in _NAMED_HELPERS):
            return method
        frame = frame.f_back
    return None
