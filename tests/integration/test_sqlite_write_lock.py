"""SQLite writers take the write lock with short retries of their own, not SQLite's
busy handler (whose sleeps grow to 100 ms), until the busy timeout has passed."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from service.domain.errors import Unavailable
from service.storage import engine as engines
from service.storage.uow import units_of_work


@pytest.fixture
def path(tmp_path):
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    setup = engines.make_engine(url)
    with setup.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    setup.dispose()
    return url


def test_a_writer_waits_in_short_doubling_pauses_and_gets_the_lock_once_it_is_free(
        path, monkeypatch):
    engine = engines.make_engine(path)
    holder = engine.connect()
    holder.begin()                       # BEGIN IMMEDIATE: holds the write lock
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 12:
            holder.commit()              # the holder lets go during the 12th pause
        time.sleep(seconds)

    monkeypatch.setattr(engines, "_pause", pause)
    uow = units_of_work(engine)()
    with uow:
        uow.connection.execute(text("INSERT INTO t VALUES (1)"))
        uow.commit()
        busy_ms = uow.connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    holder.close()
    assert len(pauses) == 12
    first, last = engines.LOCK_RETRY_FIRST, engines.LOCK_RETRY_LAST
    assert first * 0.5 <= pauses[0] <= first * 1.5
    assert all(p <= last * 1.5 for p in pauses)
    assert pauses[-1] >= last * 0.5                # doubled up to the cap
    assert busy_ms == engines.SQLITE_BUSY_TIMEOUT_MS   # restored for the transaction
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 1
    engine.dispose()


def test_a_writer_gives_up_as_unavailable_once_the_busy_timeout_has_passed(path, monkeypatch):
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 300)
    engine = engines.make_engine(path)
    holder = engine.connect()
    holder.begin()
    started = time.monotonic()
    with pytest.raises(Unavailable):
        with units_of_work(engine)():
            pass
    waited = time.monotonic() - started
    holder.close()
    assert 0.3 <= waited < 3
    with engine.connect() as connection:   # the connection's busy timeout is back
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 300
    engine.dispose()


def test_writers_of_several_threads_all_commit_without_a_busy_error(path):
    engine = engines.make_engine(path, pool_size=8)
    uow = units_of_work(engine)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(50):
                with uow() as unit:
                    unit.connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                    unit.commit()
        except BaseException as error:   # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 300
    engine.dispose()


@pytest.mark.parametrize("statement, flushed", [
    ("INSERT INTO t VALUES (1)", 1),
    ("INSERT INTO t SELECT x FROM t WHERE x < 0", 0),        # wrote no row
    ("CREATE TABLE u (y INTEGER)", 1),                         # DDL changes no row
])
def test_a_commit_is_flushed_unless_its_transaction_wrote_nothing(path, monkeypatch, statement,
                                                                   flushed):
    engine = engines.make_engine(path)
    calls: list[int] = []
    real = engines.os.fdatasync
    monkeypatch.setattr(engines.os, "fdatasync", lambda fd: (calls.append(fd), real(fd)))
    uow = units_of_work(engine)()
    with uow:
        uow.connection.execute(text(statement))
        uow.commit()
    assert len(calls) == flushed
    engine.dispose()
