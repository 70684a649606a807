"""PostgreSQL engines: pool sizes as configured, no server-side prepares behind a pooler,
a pooled connection tried only after idling."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from service.domain.errors import Unavailable
from service.storage.engine import make_engine
from tests.conftest import call

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("transaction_pooler, threshold", [(False, 5), (True, None)])
def test_a_transaction_pooler_gets_no_server_side_prepared_statements(database_url,
                                                                      transaction_pooler,
                                                                      threshold):
    engine = make_engine(database_url, pool_size=2, max_overflow=1,
                         transaction_pooler=transaction_pooler)
    try:
        assert (engine.pool.size(), engine.pool._max_overflow) == (2, 1)
        with engine.connect() as connection:
            for _ in range(8):   # past psycopg's threshold of 5 executions
                connection.execute(text("SELECT 1")).scalar()
            prepared = connection.execute(text(
                "SELECT count(*) FROM pg_prepared_statements")).scalar()
            assert connection.connection.dbapi_connection.prepare_threshold == threshold
        assert (prepared > 0) == (threshold is not None)
    finally:
        engine.dispose()


def _terminate_the_pool_s_connections(engine) -> None:
    """What a server restart or an idle timeout does to a pool's connections."""
    admin = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        admin.dispose()


@pytest.fixture
def pg_rt(rt, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pool")
    return rt


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_in_steady_use_is_not_tried_before_each_use(engine, monkeypatch):
    tried = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: tried.append(c) or ping(c))
    for _ in range(3):
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    assert tried == []
    monkeypatch.setattr("service.storage.engine.IDLE_PING_SECONDS", 0.0)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert len(tried) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_closed_by_the_server_while_idle_is_replaced_before_use(
        pg_rt, admin, monkeypatch):
    call(pg_rt, admin, "ListCampaigns")
    _terminate_the_pool_s_connections(pg_rt.uow().engine)
    monkeypatch.setattr("service.storage.engine.IDLE_PING_SECONDS", 0.0)
    assert call(pg_rt, admin, "ListCampaigns").campaigns == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_closed_by_the_server_in_use_fails_one_call_then_the_pool_is_renewed(
        pg_rt, admin, new_campaign):
    campaign_id = new_campaign()
    for _ in range(3):   # several pooled connections, all closed at once below
        call(pg_rt, admin, "GetCampaign", campaign_id=campaign_id)
    _terminate_the_pool_s_connections(pg_rt.uow().engine)
    with pytest.raises(Unavailable):
        call(pg_rt, admin, "GetCampaign", campaign_id=campaign_id)
    for _ in range(3):
        assert call(pg_rt, admin, "GetCampaign", campaign_id=campaign_id).campaign_id \
            == campaign_id
