"""Engines configured for safe concurrent use by several processes."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
import weakref

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine, make_url

#: Set in a pooled connection's ``info`` while a read-only unit of work begins, so
#: SQLite does not take the write lock.
READ_ONLY = "feedloop_read_only"

#: Set in a pooled SQLite connection's ``info``: the path of the write-ahead log its
#: commits are flushed to (group commit), absent where SQLite syncs them itself.
WAL_FILE = "feedloop_wal_file"

SQLITE_BUSY_TIMEOUT_MS = 15_000

#: A writer that finds the SQLite write lock taken tries again after this many seconds,
#: doubling up to the last (with jitter), until the busy timeout has passed.
LOCK_RETRY_FIRST = 0.000_05
LOCK_RETRY_LAST = 0.002


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 10,
                transaction_pooler: bool = False, group_commit: bool = True) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE writes.

    On a file-backed SQLite database in WAL mode, ``group_commit`` commits with
    ``synchronous=NORMAL`` and then flushes the log itself, after the write lock is
    released (see ``_Log``); without it every commit is synced by
    SQLite under the lock (``synchronous=FULL``).

    On PostgreSQL, ``pool_size`` connections are kept per process and ``max_overflow``
    more opened at peaks; behind a pooler in transaction mode (PgBouncer) the server-side
    prepared statements psycopg makes of repeated queries would meet another session's
    server connection, so ``transaction_pooler`` turns them off.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, group_commit)
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


def _sqlite_engine(url: str, group_commit: bool) -> Engine:
    busy_ms = SQLITE_BUSY_TIMEOUT_MS
    engine = create_engine(url, connect_args={"timeout": busy_ms / 1000,
                                              "check_same_thread": False},
                           json_serializer=_json_dumps, json_deserializer=_json_loads)
    log = _Log()
    weakref.finalize(engine, log.close)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        wal = _wal_file(cursor) if mode == "wal" and group_commit else None
        if wal is None:
            # FULL: a committed (acknowledged) write survives a power cut, not only a
            # crashed process; SQLite syncs the log on every commit, under the lock.
            cursor.execute("PRAGMA synchronous=FULL")
        else:
            # NORMAL: SQLite syncs the log only at checkpoints; each commit is
            # flushed by do_commit (_Log) before it is acknowledged.
            cursor.execute("PRAGMA synchronous=NORMAL")
            record.info[WAL_FILE] = wal
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    def do_begin(dbapi_connection) -> None:
        # A deferred transaction that later writes gets SQLITE_BUSY at once,
        # whatever the timeout; IMMEDIATE takes the write lock up front.
        # Straight to the driver: SQLAlchemy's statement machinery costs more than the
        # BEGIN itself on every unit of work. Its failure (the lock not free in time)
        # is wrapped as SQLAlchemy wraps any driver error, so it is classified the same.
        driver = dbapi_connection.driver_connection
        try:
            if dbapi_connection.info.get(READ_ONLY):
                driver.execute("BEGIN")
            else:
                _take_write_lock(driver, busy_ms)
                if WAL_FILE in dbapi_connection.info:
                    dbapi_connection.info[_BEGUN_AT] = _written(driver)
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance("BEGIN", None, error, sqlite3.Error) from error

    commit = engine.dialect.do_commit

    def do_commit(dbapi_connection) -> None:
        info = dbapi_connection.info
        wal = info.get(WAL_FILE)
        if wal is not None and info.get(_BEGUN_AT) == _written(
                dbapi_connection.driver_connection):
            wal = None   # a transaction that wrote nothing appended nothing to the log
        commit(dbapi_connection)
        if wal is not None:
            try:
                log.flush(wal)
            except OSError as error:
                # Committed but perhaps not on the disk: not acknowledged as durable.
                raise exc.OperationalError("COMMIT (flushing the log)", None,
                                           error) from error

    # The dialect's own hooks rather than "begin"/"commit" events: any engine event
    # listener sends every statement through SQLAlchemy's event dispatch, and keeps
    # the repositories' prepared statements (repositories.base.run) on the slower path.
    engine.dialect.do_begin = do_begin
    engine.dialect.do_commit = do_commit
    return engine


def _json_dumps(value) -> str:
    """``json.dumps``, as SQLAlchemy stores JSON on SQLite; the empty documents most rows
    hold (no parameters, no attributes, no webhooks) are written without the encoder."""
    if not value and value.__class__ in (dict, list):
        return "{}" if value.__class__ is dict else "[]"
    return json.dumps(value)


#: The stored empty documents and what each reads back as (a new one every time: callers
#: may fill what they were given).
_EMPTY_DOCUMENTS = {"{}": dict, "[]": list}


def _json_loads(text: str):
    """``json.loads``, as SQLAlchemy reads JSON on SQLite; an empty document is made
    without the decoder (a survey page reads seven JSON columns, six of them empty)."""
    empty = _EMPTY_DOCUMENTS.get(text)
    return empty() if empty is not None else json.loads(text)


#: The pooled connection's ``info`` key of what its write transaction had written
#: when it began (see _written).
_BEGUN_AT = "feedloop_begun_at"


def _written(driver: sqlite3.Connection) -> tuple[int, int]:
    """What a connection has written: the rows it changed since it opened and the schema
    version (DDL changes no row). Equal at BEGIN and COMMIT, the transaction wrote
    nothing, and its commit has nothing to flush (a trigger repeated, a page answered
    again: the write lock was taken for a read-then-write that found nothing to write)."""
    return driver.total_changes, driver.execute("PRAGMA schema_version").fetchone()[0]


#: How a writer waits between two tries of the write lock; tests replace it.
_pause = time.sleep


def _take_write_lock(driver: sqlite3.Connection, busy_ms: int) -> None:
    """BEGIN IMMEDIATE, tried again after short pauses while another writer holds the lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries: behind a writer
    that holds the lock for a millisecond, a waiter sleeps far longer than it waits, and
    the lock stays idle while the queue grows. Here the first try fails at once
    (busy_timeout 0) and the next ones follow after 50 µs, doubling to 2 ms, with jitter
    so waiting processes do not retry in step, until the busy timeout has passed; then
    the busy error is raised as SQLite's own would be. The busy timeout is restored for
    the statements of the transaction.
    """
    deadline = time.monotonic() + busy_ms / 1000
    pause = LOCK_RETRY_FIRST
    driver.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() >= deadline:
                    raise
            _pause(pause * (0.5 + random.random()))
            pause = min(pause * 2, LOCK_RETRY_LAST)
    finally:
        driver.execute(f"PRAGMA busy_timeout={busy_ms}")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def _wal_file(cursor: sqlite3.Cursor) -> str | None:
    """The write-ahead log of the main database, None for one with no file (memory)."""
    for _seq, name, path in cursor.execute("PRAGMA database_list"):
        if name == "main":
            return f"{path}-wal" if path else None
    return None


class _Log:
    """Flushes a write-ahead log to the disk after a commit: group commit.

    With ``synchronous=NORMAL`` SQLite appends a commit to the log and releases the
    write lock without syncing it. The committing call then syncs the log itself
    (fdatasync) before the commit is acknowledged, so a power cut after the
    acknowledgement keeps it, as ``synchronous=FULL`` would; but the sync happens
    outside the lock, so the next writer appends while this one waits for the disk,
    and one sync covers the commits of every writer appended before it. A commit that
    a reader sees before its flush returns can still be lost in a power cut, with the
    caller never told it succeeded.

    A file descriptor is kept open per log and reopened when the path names another
    file (SQLite deletes the log when its last connection closes and makes a new one
    at the next open); SQLite syncs a new log's header and directory entry itself.
    Closing the old descriptor cannot pull it from under another thread's flush: that
    thread's connection is open, so the log it flushes cannot have been deleted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[int, tuple[int, int]]] = {}

    def flush(self, path: str) -> None:
        fd = self._descriptor(path)
        os.fdatasync(fd)

    def _descriptor(self, path: str) -> int:
        current = os.stat(path)
        identity = (current.st_dev, current.st_ino)
        kept = self._open.get(path)
        if kept is not None and kept[1] == identity:
            return kept[0]
        with self._lock:
            kept = self._open.get(path)
            if kept is not None and kept[1] == identity:
                return kept[0]
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            opened = os.fstat(fd)
            if kept is not None:
                os.close(kept[0])
            self._open[path] = (fd, (opened.st_dev, opened.st_ino))
            return fd

    def close(self) -> None:
        with self._lock:
            for fd, _identity in self._open.values():
                os.close(fd)
            self._open.clear()
