"""Read-only units of work on PostgreSQL run their statements without a transaction
(autocommit at READ COMMITTED, where each statement takes its own snapshot anyway): no
BEGIN and ROLLBACK round trips. A streamed read opens a transaction for its server-side
cursor; the connection always goes back to the pool with transactions on."""
from __future__ import annotations


import pytest
from psycopg import pq
from sqlalchemy import text
from sqlalchemy.exc import DataError

from service.domain.tokens import split_token
from service.storage.uow import units_of_work
from tests.conftest import call

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.fixture
def nonce(rt, admin, new_campaign):
    url = call(rt, admin, "GetTrackingUrl", campaign_id=new_campaign(),
               email="ana@example.com").url
    return admin.account_id, split_token(url.rsplit("/", 1)[1])[1]


def driver(uow):
    return uow.connection.connection.driver_connection


def status(uow) -> pq.TransactionStatus:
    return driver(uow).info.transaction_status




def test_statements_of_a_read_only_unit_open_no_transaction(engine, nonce):
    account_id, value = nonce
    with units_of_work(engine)(read_only=True) as uow:
        link = uow.invitations.of_link(account_id, value)
        assert status(uow) == pq.TransactionStatus.IDLE   # no BEGIN was sent
        uow.connection.execute(text("SELECT 1"))
        assert status(uow) == pq.TransactionStatus.IDLE
        connection = driver(uow)
    assert connection.autocommit is False                 # back to the pool as it came
    assert link.contact.email == "ana@example.com" and link.invitation.nonce == value


def test_a_writing_unit_keeps_its_transaction(engine, nonce):
    account_id, value = nonce
    with units_of_work(engine)() as uow:
        assert uow.invitations.of_link(account_id, value) is not None
        assert status(uow) == pq.TransactionStatus.INTRANS
        assert driver(uow).autocommit is False


def test_a_streamed_read_opens_a_transaction_for_its_cursor(engine, rt, admin, new_campaign):
    campaign_id = new_campaign()
    with units_of_work(engine)(read_only=True) as uow:
        rows = list(uow.responses.for_metrics(admin.account_id, campaign_id, None, None))
        assert status(uow) == pq.TransactionStatus.INTRANS
        connection = driver(uow)
    assert rows == [] and connection.autocommit is False
    assert connection.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_failing_read_leaves_a_usable_connection_with_transactions_on(engine, nonce):
    account_id, value = nonce
    with pytest.raises(DataError):
        with units_of_work(engine)(read_only=True) as uow:
            connection = driver(uow)
            uow.invitations.of_link("not a number", value)   # refused by the server
    assert connection.autocommit is False
    with units_of_work(engine)(read_only=True) as uow:
        assert uow.invitations.of_link(account_id, value) is not None
