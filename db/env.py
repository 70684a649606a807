"""Alembic environment: migrations run on the connection or URL the caller configured."""
from __future__ import annotations

from alembic import context

from service.storage.engine import make_engine
from service.storage.tables import metadata

config = context.config


def _render_item(kind: str, value, autogen_context):
    # Migrations must not import the application: our UTC type is a DATETIME column.
    if kind == "type" and type(value).__name__ == "UTCDateTime":
        return "sa.DateTime()"
    return False


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("feedloop migrations run online only: use `feedloop migrate`.")
run_migrations_online()
