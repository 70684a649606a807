"""The test PostgreSQL server starts as a non-root user, serves databases and cleans up."""
from __future__ import annotations

import socket

import psycopg
import pytest

from tests.support.pgserver import PostgresServer

pytestmark = pytest.mark.postgres


def test_server_serves_separate_databases_and_leaves_nothing_behind():
    with PostgresServer() as server:
        urls = [server.create_database(name) for name in ("one", "two")]
        for url, value in zip(urls, ("first", "second")):
            with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
                connection.execute("CREATE TABLE t (v text)")
                connection.execute("INSERT INTO t VALUES (%s)", (value,))
        with psycopg.connect(urls[1].replace("postgresql+psycopg", "postgresql")) as connection:
            assert connection.execute("SELECT v FROM t").fetchall() == [("second",)]
        server.drop_database("one")
        with psycopg.connect(server.admin_url.replace("postgresql+psycopg", "postgresql")) as c:
            names = {row[0] for row in c.execute("SELECT datname FROM pg_database")}
        assert "one" not in names and "two" in names
    assert not server.root.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) != 0
