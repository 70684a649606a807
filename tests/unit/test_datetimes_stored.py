"""How date-times reach the database: aware UTC in, the backend's own form stored."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import DateTime

from service.storage.tables import UTCDateTime

SQLITE = sqlite.dialect()
OURS = UTCDateTime().bind_processor(SQLITE)
SQLALCHEMYS = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5)),
                                               timezone(timedelta(hours=-9, minutes=-30))])))
def test_sqlite_stores_the_text_sqlalchemys_datetime_would_in_utc(value):
    # The text is compared and ordered in SQL, so it must be exactly SQLAlchemy's form.
    assert OURS(value) == SQLALCHEMYS(value.astimezone(timezone.utc).replace(tzinfo=None))


@pytest.mark.parametrize("value, stored", [
    (datetime(2026, 12, 1, 3, 30, tzinfo=timezone.utc), "2026-12-01 03:30:00.000000"),
    (datetime(2026, 12, 1, 4, 30, 0, 7, tzinfo=timezone(timedelta(hours=1))),
     "2026-12-01 03:30:00.000007"),
    (None, None),
])
def test_sqlite_keeps_microseconds_and_nulls(value, stored):
    assert OURS(value) == stored


def test_a_naive_datetime_is_refused_on_every_backend():
    for dialect in (SQLITE, postgresql.dialect()):
        with pytest.raises(ValueError, match="naive datetime"):
            UTCDateTime().bind_processor(dialect)(datetime(2026, 12, 1))


def test_a_moment_repeated_and_moments_alternating_each_get_their_own_text():
    process = UTCDateTime().bind_processor(SQLITE)
    first = datetime(2026, 12, 1, 3, 30, tzinfo=timezone.utc)
    second = datetime(2026, 12, 1, 4, 30, 0, 7, tzinfo=timezone(timedelta(hours=1)))
    texts = [process(value) for value in (first, first, second, None, second, first, None)]
    assert texts == ["2026-12-01 03:30:00.000000"] * 2 + ["2026-12-01 03:30:00.000007", None,
                                                          "2026-12-01 03:30:00.000007",
                                                          "2026-12-01 03:30:00.000000", None]

