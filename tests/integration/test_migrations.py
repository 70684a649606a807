"""The migrations in db/ produce exactly the schema the code declares, from an empty database.

Other tests get a copy of a database migrated once per session (tests/conftest.py);
these migrate their own from scratch.
"""
from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from service.storage.engine import make_engine
from service.storage.migrations import alembic_config, is_current, upgrade
from service.storage.tables import metadata


@pytest.fixture
def engine(empty_database_url):
    engine = make_engine(empty_database_url)
    assert inspect(engine).get_table_names() == []
    upgrade(engine)
    yield engine
    engine.dispose()


def test_migrated_database_equals_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
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
