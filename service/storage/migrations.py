"""Applying the Alembic migrations of db/ (installed as the package service._migrations)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

try:
    import service._migrations as _installed
    _LOCATION = Path(_installed.__file__).parent
except ModuleNotFoundError:
    # `service` imported from a source checkout without installing it (gunicorn puts the
    # current directory first on sys.path, so `feedloop serve` started in a clone does
    # this even after `pip install .`): the migrations are db/ beside service/.
    _LOCATION = Path(__file__).resolve().parents[2] / "db"


def _script_location() -> str:
    return str(_LOCATION)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", _script_location())
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database of ``engine`` to ``revision`` (the latest by default)."""
    config = alembic_config(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        # SQLite changes a table by rebuilding it, and dropping the old copy of a table
        # that other rows refer to fails while foreign keys are enforced: its documented
        # procedure turns them off (outside any transaction) and checks them before the
        # commit. The pooled connection gets them back on in any case.
        driver = connection.connection.driver_connection
        if sqlite:
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite:
                    _check_foreign_keys(connection)
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"the migration leaves rows whose parent is missing: {broken[:10]}")


def revisions(engine: Engine) -> tuple[str | None, str]:
    """The database's revision (None before any migration) and the latest one."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision(), head


def schema_state(engine: Engine) -> tuple[str, str | None, str]:
    """("empty" | "behind" | "current" | "ahead", the database's revision, the latest).

    "ahead": a newer release migrated the database while this one still runs, as a
    rolling upgrade does; migrations keep the old code working, so that is no error.
    """
    current, head = revisions(engine)
    if current is None:
        return "empty", current, head
    if current == head:
        return "current", current, head
    known = {script.revision for script in
             ScriptDirectory.from_config(alembic_config(engine)).walk_revisions()}
    return ("behind" if current in known else "ahead"), current, head


def is_current(engine: Engine) -> bool:
    """True when the database is at the latest revision."""
    current, head = revisions(engine)
    return current == head
