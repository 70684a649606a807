"""Outages are Unavailable, bugs stay internal errors: the unit of work tells them apart,
on SQLite and PostgreSQL, from real driver failures (nothing here fakes an exception)."""
from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import create_engine

from service.domain.errors import Unavailable
from service.storage import engine as engine_module
from service.storage.engine import make_engine
from service.storage.outages import BUSY_RETRY_AFTER, DOWN_RETRY_AFTER
from service.storage.uow import SqlUnitOfWork
from tests.support.ports import free_port

pytestmark = pytest.mark.faults


def run(engine, statement: str, *setup: str) -> None:
    with SqlUnitOfWork(engine) as uow:
        for line in setup:
            uow.connection.exec_driver_sql(line)
        uow.connection.exec_driver_sql(statement)
        uow.commit()


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """SQLite's lock wait cut from 15 s to 0.1 s, for engines made from now on."""
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 100)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_write_lock_held_past_the_busy_timeout_is_unavailable_for_a_second(
        short_busy_timeout, database_url):
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = make_engine(database_url)
    try:
        with pytest.raises(Unavailable) as caught:
            run(engine, "DELETE FROM audit_log")
        assert caught.value.retry_after == BUSY_RETRY_AFTER
        assert "same event_id" in caught.value.message
        holder.rollback()
        run(engine, "DELETE FROM audit_log")  # the lock gone, the same call goes through
    finally:
        holder.close()
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("setting, statement", [
    ("lock_timeout", "LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE"),
    ("statement_timeout", "SELECT pg_sleep(5)"),
], ids=["lock timeout", "statement timeout"])
def test_a_postgres_lock_or_statement_timeout_is_unavailable(engine, setting, statement):
    holder = psycopg.connect(engine.url.set(drivername="postgresql")
                             .render_as_string(hide_password=False))
    holder.execute("LOCK TABLE audit_log IN SHARE MODE")
    try:
        with pytest.raises(Unavailable) as caught:
            run(engine, statement, f"SET LOCAL {setting} = '100ms'")
    finally:
        holder.close()
    expected = BUSY_RETRY_AFTER if setting == "lock_timeout" else DOWN_RETRY_AFTER
    assert caught.value.retry_after == expected


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_lost_inside_a_transaction_is_unavailable_and_the_next_call_works(engine):
    with pytest.raises(Unavailable) as caught:
        with SqlUnitOfWork(engine) as uow:
            uow.connection.exec_driver_sql("INSERT INTO audit_log (account_id, key_id, "
                                           "operation, target, at) SELECT 1, 'k', 'o', 't', now() "
                                           "WHERE false")
            uow.connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
            uow.commit()
    assert caught.value.retry_after == DOWN_RETRY_AFTER
    run(engine, "SELECT 1")


def test_an_unreachable_postgres_server_is_unavailable():
    engine = make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
                         "?connect_timeout=2")
    try:
        with pytest.raises(Unavailable) as caught:
            run(engine, "SELECT 1")
    finally:
        engine.dispose()
    assert caught.value.retry_after == DOWN_RETRY_AFTER
    assert "unreachable" in caught.value.message


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'feedloop.db'}")
    try:
        with pytest.raises(Unavailable) as caught:
            run(engine, "SELECT 1")
    finally:
        engine.dispose()
    assert caught.value.retry_after == DOWN_RETRY_AFTER


def test_an_exhausted_connection_pool_is_unavailable(database_url):
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        with engine.connect():
            with pytest.raises(Unavailable) as caught:
                run(engine, "SELECT 1")
    finally:
        engine.dispose()
    assert "no database connection became free" in caught.value.message


@pytest.mark.parametrize("statement", [
    "SELECT * FROM no_such_table",           # sqlite3 calls this an OperationalError too
    "SELEC 1",
    "INSERT INTO accounts (id, name, created_at) VALUES (NULL, NULL, NULL)",
], ids=["missing table", "syntax", "constraint"])
def test_a_bug_in_a_statement_is_not_an_outage(engine, statement):
    with pytest.raises(Exception) as caught:
        run(engine, statement)
    assert not isinstance(caught.value, Unavailable)
    run(engine, "SELECT 1")  # and the engine is fine afterwards


def test_an_error_of_the_body_is_kept_when_the_rollback_fails_too(engine):
    with pytest.raises(ZeroDivisionError):
        with SqlUnitOfWork(engine) as uow:
            uow.connection.exec_driver_sql("SELECT 1")
            uow.connection.invalidate()
            1 / 0


def test_a_failing_begin_leaves_no_connection_checked_out(short_busy_timeout, tmp_path):
    path = tmp_path / "busy.db"
    sqlite3.connect(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(Unavailable):
            run(engine, "SELECT 1")
        assert engine.pool.checkedout() == 0
    finally:
        holder.close()
        engine.dispose()

