"""The migrations in db/ produce exactly the schema the code declares, from an empty database.

Other tests get a copy of a database migrated once per session (tests/conftest.py);
these migrate their own from scratch.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from service.storage.engine import make_engine
from service.storage.migrations import alembic_config, is_current, upgrade
from service.storage.tables import invitation_events, list_members, metadata, outbox
from tests.integration.test_directory import directory_rows


@pytest.fixture
def engine(empty_database_url):
    engine = make_engine(empty_database_url)
    assert inspect(engine).get_table_names() == []
    upgrade(engine)
    yield engine
    engine.dispose()


#: What a migrated SQLite database has beyond the models (which carry the PostgreSQL form):
#: the unique (account_id, id) indexes that composite foreign keys refer to, where PostgreSQL
#: has the primary key (account_id, id) and SQLite keeps the lone rowid; and outbox's
#: (account_id, id) index for an account's newest entries, PostgreSQL's primary key there.
SQLITE_ONLY_INDEXES = {("uq_campaigns_account_id_id", True), ("uq_contact_lists_account_id_id", True),
                       ("uq_contacts_account_id_id", True), ("uq_invitations_account_id_id", True),
                       ("uq_surveys_account_id_id", True), ("ix_outbox_account", False)}


def assert_schema_equals_the_models(engine) -> None:
    """Alembic's comparison finds nothing but SQLite's known indexes (which must exist)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    extra = {(d[1].name, bool(d[1].unique)) for d in differences
             if isinstance(d, tuple) and d[0] == "remove_index"}
    assert [d for d in differences if not (isinstance(d, tuple) and d[0] == "remove_index")] \
        == []
    assert extra == (SQLITE_ONLY_INDEXES if engine.dialect.name == "sqlite" else set())


def test_migrated_database_equals_the_models(engine):
    assert_schema_equals_the_models(engine)
    assert is_current(engine)


def test_migrations_downgrade_to_nothing_and_back(engine):
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert not is_current(engine)
    upgrade(engine)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


PREVIOUS_HEAD = "0008"


def insert_row(connection, table, **values) -> int:
    """Insert a row of the reflected ``table``: ``values``, and a plain value for every other
    required column (whatever columns the revision has); its id."""
    for column in table.columns:
        if column.name in values or column.nullable or column.server_default is not None \
                or column.name == "id":
            continue
        python_type = column.type.python_type
        values[column.name] = {int: 1, str: "x", bool: False, bytes: os.urandom(16),
                               dict: {}, datetime: datetime(2026, 1, 1)}[python_type]
    return connection.execute(table.insert().values(**values).returning(table.c.id)).scalar_one()


def test_a_database_with_data_upgrades_to_64_bit_ids_and_every_row_naming_its_account(
        empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, PREVIOUS_HEAD)
    tables = MetaData()
    tables.reflect(engine)
    t = tables.tables
    with engine.begin() as connection:
        account = insert_row(connection, t["accounts"], name="acme")
        survey = insert_row(connection, t["surveys"], account_id=account, questions=[])
        campaign = insert_row(connection, t["campaigns"], account_id=account, survey_id=survey,
                              templates={}, notify_emails=[], webhooks=[])
        contact = insert_row(connection, t["contacts"], account_id=account, attributes={})
        invitation = insert_row(connection, t["invitations"], account_id=account,
                                campaign_id=campaign, contact_id=contact, params={})
        insert_row(connection, t["invitation_events"], invitation_id=invitation, event="sent")
        customers = insert_row(connection, t["contact_lists"], account_id=account)
        connection.execute(t["list_members"].insert().values(
            list_id=customers, contact_id=contact, added_at=datetime(2026, 1, 1)))
    upgrade(engine)
    big = 2**31 + 5
    with engine.begin() as connection:
        assert connection.execute(select(invitation_events.c.account_id,
                                         invitation_events.c.invitation_id)).all() \
            == [(account, invitation)]
        assert connection.execute(select(list_members.c.account_id, list_members.c.list_id,
                                         list_members.c.contact_id)).all() \
            == [(account, customers, contact)]
        connection.execute(insert(invitation_events).values(
            id=big, account_id=account, invitation_id=invitation,
            at=datetime.now(timezone.utc), event="opened"))
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT setval('invitation_events_id_seq', :v)"), {"v": big})
        assert connection.execute(insert(invitation_events).values(
            account_id=account, invitation_id=invitation, at=datetime.now(timezone.utc), event="responded")
            .returning(invitation_events.c.id)).scalar_one() == big + 1
    assert_schema_equals_the_models(engine)
    engine.dispose()


def contents(engine) -> dict[str, list]:
    """Every row of every table, as sorted column-value pairs (whatever the column order)."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as connection:
        return {name: sorted(repr(sorted(row._mapping.items()))
                             for row in connection.execute(select(table)))
                for name, table in tables.tables.items() if name != "alembic_version"}


def test_a_database_with_data_keeps_it_when_every_key_gets_the_account(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0013")
    tables = MetaData()
    tables.reflect(engine)
    t = tables.tables
    with engine.begin() as connection:
        acme = insert_row(connection, t["accounts"], name="acme")
        other = insert_row(connection, t["accounts"], name="other")
        insert_row(connection, t["api_keys"], account_id=acme, key_id="fl_acme")
        survey = insert_row(connection, t["surveys"], account_id=acme, questions=[])
        campaign = insert_row(connection, t["campaigns"], account_id=acme, survey_id=survey,
                              public_id="open-acme", templates={}, notify_emails=[],
                              webhooks=[])
        contact = insert_row(connection, t["contacts"], account_id=acme, attributes={})
        invitation = insert_row(connection, t["invitations"], account_id=acme,
                                campaign_id=campaign, contact_id=contact, params={},
                                event_id="order-1")
        insert_row(connection, t["invitation_events"], account_id=acme,
                   invitation_id=invitation, event="sent")
        insert_row(connection, t["responses"], account_id=acme, campaign_id=campaign,
                   invitation_id=invitation, contact_id=contact, answers={}, params={},
                   extra_params={})
        insert_row(connection, t["outbox"], account_id=acme, payload={}, idempotency_key="k")
    before = contents(engine)
    upgrade(engine)
    after = contents(engine)
    assert {name: rows for name, rows in after.items() if name != "directory"} == before
    assert directory_rows(engine) == {("key", "fl_acme", acme), ("campaign", "open-acme", acme)}
    with engine.begin() as connection:  # a key of its own account: another may repeat it
        connection.execute(insert(outbox).values(
            account_id=other, kind="webhook", event="e", target="t", payload={},
            idempotency_key="k", state="pending", next_attempt_at=datetime.now(timezone.utc),
            created_at=datetime.now(timezone.utc)))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(invitation_events).values(
            account_id=other, invitation_id=invitation, at=datetime.now(timezone.utc),
            event="opened"))
    assert_schema_equals_the_models(engine)
    engine.dispose()


def test_a_sqlite_migration_that_leaves_a_row_without_its_parent_is_not_committed(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'broken.db'}")
    upgrade(engine, "0013")
    with engine.connect() as connection:  # foreign keys off: as a damaged file may be
        driver = connection.connection.driver_connection
        driver.execute("PRAGMA foreign_keys=OFF")
        driver.execute("INSERT INTO invitation_events (account_id, invitation_id, at, event)"
                       " VALUES (1, 99, '2026-01-01 00:00:00', 'sent')")
        driver.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(RuntimeError, match="rows whose parent is missing"):
        upgrade(engine)
    assert not is_current(engine)
    engine.dispose()
