"""Every account-owned row names its account, and the statement check sees what it should."""
from __future__ import annotations

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.dialects import sqlite

from service.storage.tables import accounts, contacts, invitation_events, list_members, metadata
from tests.support.ownership import (
    ACCOUNT_OWNED,
    GLOBAL_STATEMENTS,
    GLOBAL_TABLES,
    storage_method,
    unrouted_tables,
)


@pytest.mark.parametrize("name", sorted(ACCOUNT_OWNED))
def test_every_account_owned_table_has_a_required_account_column(name):
    column = metadata.tables[name].c.get("account_id")
    assert column is not None and not column.nullable
    assert {fk.target_fullname for fk in column.foreign_keys} == {"accounts.id"}


@pytest.mark.parametrize("name", sorted(ACCOUNT_OWNED))
def test_the_primary_key_leads_with_the_account_or_is_the_sequence_id(name):
    # A sequence id stays alone: on SQLite only a lone INTEGER PRIMARY KEY autoincrements
    # (docs/scale.md: on Citus it becomes (account_id, id)).
    assert [c.name for c in metadata.tables[name].primary_key.columns] in (
        ["id"], ["account_id", *[c.name for c in metadata.tables[name].primary_key.columns][1:]])


def test_the_global_tables_are_the_accounts_and_the_failed_logins():
    assert set(GLOBAL_TABLES) == set(metadata.tables) - ACCOUNT_OWNED == {"accounts",
                                                                         "auth_failures"}


def compiled(statement):
    return statement.compile(dialect=sqlite.dialect())


@pytest.mark.parametrize("statement, unrouted", [
    (select(invitation_events).where(invitation_events.c.invitation_id == 1),
     {"invitation_events"}),
    (select(invitation_events).where(invitation_events.c.account_id == 1,
                                     invitation_events.c.invitation_id == 1), set()),
    (list_members.delete().where(list_members.c.list_id == 1), {"list_members"}),
    (insert(invitation_events).values(invitation_id=1, event="sent"), {"invitation_events"}),
    (insert(invitation_events).values(account_id=1, invitation_id=1, event="sent"), set()),
    (update(contacts).where(contacts.c.id == 1).values(email="x"), {"contacts"}),
    (select(accounts).where(accounts.c.id == 1), set()),
])
def test_the_statement_check_finds_an_account_owned_table_reached_without_its_account(
        statement, unrouted):
    assert unrouted_tables(compiled(statement), ACCOUNT_OWNED) == unrouted


def test_a_statement_is_named_by_the_repository_method_that_runs_it(rt, admin):
    methods = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if context.compiled is not None:  # not SQLite's BEGIN IMMEDIATE
            methods.append(storage_method())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        with rt.uow(read_only=True) as uow:
            uow.surveys.get(admin.account_id, 1)     # through Repository._one
            uow.directory.account_of_key("nope")
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert methods == ["SurveyRepository.get", "DirectoryRepository.account_of_key"]
    assert "DirectoryRepository.account_of_key" in GLOBAL_STATEMENTS
