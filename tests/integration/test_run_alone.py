"""A read-only unit of work's only statement runs without a transaction of its own on
PostgreSQL (repositories.base.run_alone): one round trip instead of three."""
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


def status(uow) -> pq.TransactionStatus:
    return uow.connection.connection.driver_connection.info.transaction_status


def test_the_link_read_alone_opens_no_transaction_and_leaves_autocommit_off(engine, nonce):
    account_id, value = nonce
    with units_of_work(engine)(read_only=True) as uow:
        link = uow.invitations.of_link(account_id, value)
        assert status(uow) == pq.TransactionStatus.IDLE   # no BEGIN was sent
        driver = uow.connection.connection.driver_connection
        assert driver.autocommit is False
        uow.connection.execute(text("SELECT 1"))          # a second statement: a transaction
        assert status(uow) == pq.TransactionStatus.INTRANS
    assert link.contact.email == "ana@example.com" and link.invitation.nonce == value


def test_in_a_writing_unit_of_work_the_link_read_is_part_of_its_transaction(engine, nonce):
    account_id, value = nonce
    with units_of_work(engine)() as uow:
        assert uow.invitations.of_link(account_id, value) is not None
        assert status(uow) == pq.TransactionStatus.INTRANS


def test_a_failing_statement_alone_leaves_a_usable_connection(engine, nonce):
    account_id, value = nonce
    with pytest.raises(DataError):
        with units_of_work(engine)(read_only=True) as uow:
            try:
                uow.invitations.of_link("not a number", value)   # refused by the server
            finally:
                assert uow.connection.connection.driver_connection.autocommit is False
    with units_of_work(engine)(read_only=True) as uow:
        assert uow.invitations.of_link(account_id, value) is not None
