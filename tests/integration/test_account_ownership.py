"""Every account-owned row names its account, and the statement check sees what it should."""
from __future__ import annotations

import pytest
from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SAWarning
from sqlalchemy.dialects import sqlite

from service.storage.engine import make_engine
from service.storage.migrations import upgrade
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
    # account_id also leads the composite foreign keys to the account's other tables.
    targets = {fk.target_fullname for fk in column.foreign_keys}
    assert "accounts.id" in targets
    assert {target.split(".")[1] for target in targets - {"accounts.id"}} <= {"account_id"}


def owned_tables(inspector) -> list[str]:
    return sorted(set(inspector.get_table_names()) & ACCOUNT_OWNED)


def parents(inspector) -> set[str]:
    """The account-owned tables a foreign key of another one refers to."""
    return {fk["referred_table"] for table in owned_tables(inspector)
            for fk in inspector.get_foreign_keys(table) if fk["referred_table"] in ACCOUNT_OWNED}


def unique_keys(inspector, table: str) -> dict[str, list[str]]:
    """The table's unique constraints and unique indexes: their columns by name."""
    keys = {u["name"]: u["column_names"] for u in inspector.get_unique_constraints(table)}
    keys.update((i["name"], i["column_names"]) for i in inspector.get_indexes(table)
                if i["unique"])
    return keys


def primary_keys_without_the_account(engine) -> set[str]:
    """Tables whose primary key lacks account_id. SQLite keeps the lone rowid ``id`` (its only
    autoincrementing key), with a unique (account_id, id) when a foreign key refers to it."""
    inspector = inspect(engine)
    referred = parents(inspector)
    wrong = set()
    for table in owned_tables(inspector):
        key = inspector.get_pk_constraint(table)["constrained_columns"]
        rowid = engine.dialect.name == "sqlite" and key == ["id"] and (
            table not in referred
            or ["account_id", "id"] in unique_keys(inspector, table).values())
        if "account_id" not in key and not rowid:
            wrong.add(table)
    return wrong


def unique_keys_without_the_account(engine) -> set[str]:
    inspector = inspect(engine)
    return {f"{table}.{name}" for table in owned_tables(inspector)
            for name, columns in unique_keys(inspector, table).items()
            if "account_id" not in columns}


def foreign_keys_without_the_account(engine) -> set[str]:
    """Foreign keys between account-owned tables that do not match account_id with account_id."""
    inspector = inspect(engine)
    return {f"{table}.{fk['name']}" for table in owned_tables(inspector)
            for fk in inspector.get_foreign_keys(table)
            if fk["referred_table"] in ACCOUNT_OWNED
            and ("account_id", "account_id") not in zip(fk["constrained_columns"],
                                                        fk["referred_columns"])}


def test_every_primary_key_of_an_account_owned_table_contains_the_account(engine):
    assert primary_keys_without_the_account(engine) == set()


def test_every_unique_constraint_and_unique_index_of_an_account_owned_table_contains_the_account(
        engine):
    assert unique_keys_without_the_account(engine) == set()


def test_every_foreign_key_between_account_owned_tables_contains_the_account_on_both_sides(
        engine):
    assert foreign_keys_without_the_account(engine) == set()


def test_the_schema_checks_find_the_keys_revision_0013_had_without_the_account(
        empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0013")
    sequenced = {"api_keys", "surveys", "campaigns", "contacts", "invitations", "responses",
                 "audit_log", "attribute_definitions", "contact_lists", "invitation_events",
                 "dump_files", "outbox"}
    assert primary_keys_without_the_account(engine) == (
        sequenced if engine.dialect.name == "postgresql"
        else {"surveys", "campaigns", "contacts", "invitations", "contact_lists"})
    assert unique_keys_without_the_account(engine) == {
        "api_keys.uq_api_keys_key_id", "campaigns.uq_campaigns_public_id",
        "invitations.uq_invitations_nonce", "invitations.uq_invitations_campaign_event",
        "responses.uq_responses_invitation_id", "responses.uq_responses_campaign_submission",
        "outbox.uq_outbox_idempotency_key"}
    assert foreign_keys_without_the_account(engine) == {
        "survey_versions.fk_survey_versions_survey_id_surveys",
        "campaigns.fk_campaigns_survey_id_surveys",
        "invitations.fk_invitations_campaign_id_campaigns",
        "invitations.fk_invitations_contact_id_contacts",
        "responses.fk_responses_campaign_id_campaigns",
        "responses.fk_responses_invitation_id_invitations",
        "responses.fk_responses_contact_id_contacts",
        "list_members.fk_list_members_list_id_contact_lists",
        "list_members.fk_list_members_contact_id_contacts",
        "invitation_events.fk_invitation_events_invitation_id_invitations",
        "export_cursors.fk_export_cursors_campaign_id_campaigns",
        "dump_files.fk_dump_files_campaign_id_campaigns"}
    engine.dispose()


def test_the_global_tables_are_the_accounts_the_failed_logins_and_the_directory():
    assert set(GLOBAL_TABLES) == set(metadata.tables) - ACCOUNT_OWNED == {
        "accounts", "auth_failures", "directory"}


def compiled(statement):
    return statement.compile(dialect=sqlite.dialect())


@pytest.mark.parametrize("statement, unrouted", [
    (select(invitation_events).where(invitation_events.c.invitation_id == 1),
     {"invitation_events"}),
    (select(invitation_events).where(invitation_events.c.account_id == 1,
                                     invitation_events.c.invitation_id == 1), set()),
    (list_members.delete().where(list_members.c.list_id == 1), {"list_members"}),
    (insert(invitation_events).values(account_id=1, invitation_id=1, event="sent"), set()),
    (update(contacts).where(contacts.c.id == 1).values(email="x"), {"contacts"}),
    (select(accounts).where(accounts.c.id == 1), set()),
])
def test_the_statement_check_finds_an_account_owned_table_reached_without_its_account(
        statement, unrouted):
    assert unrouted_tables(compiled(statement), ACCOUNT_OWNED) == unrouted


def test_the_statement_check_finds_an_insert_without_the_account_which_sqlalchemy_warns_of():
    # account_id is in every primary key of an account's table (revision 0014).
    with pytest.warns(SAWarning, match="invitation_events.account_id"):
        statement = compiled(insert(invitation_events).values(invitation_id=1, event="sent"))
    assert unrouted_tables(statement, ACCOUNT_OWNED) == {"invitation_events"}


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
    assert methods == ["SurveyRepository.get", "DirectoryRepository._account_of",
                       "DirectoryRepository._account_of"]
    assert "DirectoryRepository._account_of" in GLOBAL_STATEMENTS
