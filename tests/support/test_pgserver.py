"""The test PostgreSQL server runs as a non-root user, serves databases, leaves nothing behind."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support import pgserver
from tests.support.conditions import process_is_running, wait_until
from tests.support.pgserver import PostgresServer

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql")


def test_server_serves_separate_databases_and_leaves_nothing_behind():
    with PostgresServer() as server:
        urls = [server.create_database(name) for name in ("one", "two")]
        for url, value in zip(urls, ("first", "second"), strict=True):
            with psycopg.connect(libpq(url)) as connection:
                connection.execute("CREATE TABLE t (v text)")
                connection.execute("INSERT INTO t VALUES (%s)", (value,))
        for url, value in zip(urls, ("first", "second"), strict=True):
            with psycopg.connect(libpq(url)) as connection:
                assert connection.execute("SELECT v FROM t").fetchall() == [(value,)]
        server.drop_database("one")
        with psycopg.connect(libpq(server.admin_url)) as connection:
            names = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        assert "one" not in names and "two" in names
    assert not server.root.exists()
    # the server itself, not its port: another process may bind the freed port at once
    assert not process_is_running(server.pid)


def test_database_can_be_copied_from_a_prepared_template_and_dropped_while_in_use():
    with PostgresServer() as server:
        with psycopg.connect(libpq(server.create_database("migrated"))) as connection:
            connection.execute("CREATE TABLE t (v text)")
            connection.execute("INSERT INTO t VALUES ('from the template')")
        session = psycopg.connect(libpq(server.create_database("copy", template="migrated")))
        assert session.execute("SELECT v FROM t").fetchall() == [("from the template",)]
        server.drop_database("copy")
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
        session.close()


def test_server_that_cannot_start_says_why_and_leaves_nothing_behind(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(pgserver, "free_port", lambda: taken.getsockname()[1])
        server = PostgresServer()
        with pytest.raises(RuntimeError, match="(?s)did not start.*could not bind"):
            server.start()
    assert not server.root.exists()


def test_server_whose_port_is_taken_before_it_binds_starts_on_another(monkeypatch):
    pick = pgserver.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        offered = [taken.getsockname()[1]]
        monkeypatch.setattr(pgserver, "free_port", lambda: offered.pop() if offered else pick())
        with PostgresServer() as server:
            assert server.port != taken.getsockname()[1]
            with psycopg.connect(libpq(server.admin_url)) as connection:
                assert connection.execute("SELECT 1").fetchone() == (1,)


def test_server_does_not_outlive_a_killed_test_process():
    script = ("import os, signal\n"
              "from tests.support.pgserver import PostgresServer\n"
              "server = PostgresServer()\n"
              "server.start()\n"
              "print(server.pid, server.root, flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                           text=True, timeout=120, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr
    pid, root = child.stdout.split()
    wait_until(lambda: not process_is_running(int(pid)) and not Path(root).exists(), 60,
               "the orphaned server to stop and its directory to go")
