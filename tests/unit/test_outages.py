"""Which driver failures are outages: the table of SQLSTATE classes and sqlite3 codes."""
from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from sqlalchemy import exc

from service.storage.outages import BUSY_RETRY_AFTER, DOWN_RETRY_AFTER, outage_of


class PostgresError(Exception):
    """What psycopg (sqlstate) and psycopg2 (pgcode) attach to a server's error."""

    def __init__(self, sqlstate: str | None = None, pgcode: str | None = None) -> None:
        super().__init__("server said no")
        self.sqlstate, self.pgcode = sqlstate, pgcode


def wrapped(driver_error: Exception, kind: type[exc.DBAPIError] = exc.OperationalError,
            invalidated: bool = False) -> exc.DBAPIError:
    return kind("SELECT 1", {}, driver_error, connection_invalidated=invalidated)


@pytest.mark.parametrize("sqlstate, retry_after", [
    ("08006", DOWN_RETRY_AFTER),    # connection failure
    ("53300", DOWN_RETRY_AFTER),    # too many connections
    ("57P01", DOWN_RETRY_AFTER),    # terminating connection: administrator command
    ("57P03", DOWN_RETRY_AFTER),    # the database system is starting up
    ("57014", DOWN_RETRY_AFTER),    # statement timeout
    ("55P03", BUSY_RETRY_AFTER),    # lock timeout
    ("40001", BUSY_RETRY_AFTER),    # serialization failure
    ("40P01", BUSY_RETRY_AFTER),    # deadlock
])
def test_postgres_outages_are_unavailable_with_a_retry_delay(sqlstate, retry_after):
    for driver_error in (PostgresError(sqlstate=sqlstate), PostgresError(pgcode=sqlstate)):
        outage = outage_of(wrapped(driver_error))
        assert outage is not None and outage.retry_after == retry_after
        assert outage.details["retry_after"] == retry_after


@pytest.mark.parametrize("sqlstate", ["23505", "42P01", "42601", "22003"])
def test_postgres_errors_of_the_request_or_the_code_are_not_outages(sqlstate):
    assert outage_of(wrapped(PostgresError(sqlstate), exc.IntegrityError)) is None


def test_a_driver_error_without_a_server_code_is_an_outage_only_when_operational():
    assert "unreachable" in outage_of(wrapped(PostgresError())).message
    assert outage_of(wrapped(PostgresError(), exc.ProgrammingError)) is None


def test_a_lost_connection_and_an_exhausted_pool_are_outages():
    lost = outage_of(wrapped(PostgresError("XX000"), exc.InterfaceError, invalidated=True))
    assert "lost" in lost.message
    assert "no database connection" in outage_of(exc.TimeoutError("QueuePool limit")).message


@pytest.mark.parametrize("sql", ["SELECT * FROM missing", "SELEC"])
def test_sqlite_errors_of_the_statement_are_not_outages(sql):
    # sqlite3 raises OperationalError for these too: its result code tells them apart.
    with closing(sqlite3.connect(":memory:")) as connection:
        with pytest.raises(sqlite3.OperationalError) as caught:
            connection.execute(sql)
    assert outage_of(wrapped(caught.value)) is None


def test_errors_that_are_not_the_database_s_are_not_outages():
    assert outage_of(ValueError("no")) is None
