"""Engines configured for safe concurrent use by several processes."""
from __future__ import annotations

import sqlite3
import time

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine, make_url

#: Set in a pooled connection's ``info`` while a read-only unit of work begins, so
#: SQLite does not take the write lock.
READ_ONLY = "feedloop_read_only"

SQLITE_BUSY_TIMEOUT_MS = 15_000


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 10,
                transaction_pooler: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE writes.

    On PostgreSQL, ``pool_size`` connections are kept per process and ``max_overflow``
    more opened at peaks; behind a pooler in transaction mode (PgBouncer) the server-side
    prepared statements psycopg makes of repeated queries would meet another session's
    server connection, so ``transaction_pooler`` turns them off.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    connect_args = {"prepare_threshold": None} if transaction_pooler else {}
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                           connect_args=connect_args)
    _ping_after_idling(engine)
    return engine


#: A pooled PostgreSQL connection idle this long is tried before use (seconds).
IDLE_PING_SECONDS = 5.0


def _ping_after_idling(engine: Engine) -> None:
    """Try a pooled connection before handing it out only when it has been idle a while.

    SQLAlchemy's pool_pre_ping tries it on every checkout: one more round trip on every
    unit of work, a quarter of a small read's. A connection in steady use is known good;
    one that idled (a server restart, an idle timeout of the network or a pooler) is
    tried, and a dead one replaced before any statement of the caller runs. A connection
    that breaks while in use fails that call (Unavailable, retry later) and invalidates
    every connection of the pool opened before (SQLAlchemy's own handling, and
    repositories.base.run's)."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _try_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if not engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # The pool replaces the connection and checks a new one out.
            raise exc.DisconnectionError("the pooled connection was closed by the server")


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                              "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed (acknowledged) response survives a power cut, not only
        # a crashed process; the cost is one extra fsync per commit.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    def do_begin(dbapi_connection) -> None:
        # A deferred transaction that later writes gets SQLITE_BUSY at once,
        # whatever the timeout; IMMEDIATE waits for the write lock up front.
        statement = "BEGIN" if dbapi_connection.info.get(READ_ONLY) \
            else "BEGIN IMMEDIATE"
        # Straight to the driver: SQLAlchemy's statement machinery costs more than the
        # BEGIN itself on every unit of work. Its failure (the lock not free in time)
        # is wrapped as SQLAlchemy wraps any driver error, so it is classified the same.
        try:
            dbapi_connection.driver_connection.execute(statement)
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error

    # The dialect's own hook rather than a "begin" event: any engine event listener
    # sends every statement through SQLAlchemy's event dispatch, and keeps the
    # repositories' prepared statements (repositories.base.run) on the slower path.
    engine.dialect.do_begin = do_begin
    return engine
