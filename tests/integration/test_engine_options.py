"""PostgreSQL engines: pool sizes as configured, no server-side prepares behind a pooler."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from service.storage.engine import make_engine

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
