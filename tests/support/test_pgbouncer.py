"""PgBouncer of the suite pools by transaction in front of the test PostgreSQL."""
from __future__ import annotations

import psycopg
import pytest

from tests.support.pgbouncer import PgBouncer
from tests.support.test_pgserver import libpq

pytestmark = [pytest.mark.postgres, pytest.mark.pgbouncer]


def backend_of(connection: psycopg.Connection) -> int:
    with connection.transaction():
        return connection.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_two_clients_take_turns_on_one_server_connection_between_transactions(
        postgres_server, pgbouncer):
    url = libpq(pgbouncer.url(postgres_server.admin_url))
    with psycopg.connect(url) as first, psycopg.connect(url) as second:
        # In session mode each client would keep a server connection of its own.
        assert backend_of(first) == backend_of(second) == backend_of(first)
        direct = psycopg.connect(libpq(postgres_server.admin_url))
        with direct:
            assert backend_of(direct) != backend_of(first)


def test_a_stopped_pgbouncer_leaves_nothing_behind(postgres_server):
    bouncer = PgBouncer(postgres_server.port)
    bouncer.start()
    root = bouncer.root
    bouncer.stop()
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq(bouncer.url(postgres_server.admin_url)), connect_timeout=2)
