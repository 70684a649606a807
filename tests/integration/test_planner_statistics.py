"""A bulk call on a new PostgreSQL database leaves the tables it refers to measured.

The plans PostgreSQL keeps for the foreign-key check of each inserted row are made while
the tables hold a few rows; unmeasured, an index that leads with account_id alone costs
what the primary key (account_id, id) does, and each check then read every row of the
account (10,000 invitations in one call: 34 s instead of 2). See
service.storage.repositories.base.measure_if_outgrown.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from service.services import messages as m
from tests.conftest import call
from tests.support.statements import statements

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

#: What the foreign key of an invitation's history asks of invitations, once per new row.
KEY_CHECK = ("SELECT 1 FROM ONLY invitations x WHERE account_id = $1 AND id = $2 "
             "FOR KEY SHARE OF x")


def add(rt, admin, campaign_id: int, count: int, tag: str):
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        m.Respondent(email=f"{tag}{n}@example.com", event_id=f"{tag}{n}") for n in range(count)])
    assert result.scheduled + result.sent == count


def measured_rows(engine) -> dict[str, float]:
    with engine.connect() as connection:
        return dict(connection.execute(text(
            "SELECT relname, reltuples FROM pg_class "
            "WHERE relname IN ('contacts', 'invitations')")).all())


def generic_plan(engine, query: str, values: str) -> str:
    """The plan a session keeps for ``query`` once it stops planning it per execution."""
    with engine.connect() as connection:
        connection.exec_driver_sql(f"PREPARE check_key(bigint, bigint) AS {query}")
        for _ in range(6):   # five custom plans first, then the generic one is weighed
            connection.exec_driver_sql(f"EXECUTE check_key({values})").all()
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(
            f"EXPLAIN EXECUTE check_key({values})"))
        connection.exec_driver_sql("DEALLOCATE check_key")
        connection.rollback()
    return plan


def test_a_bulk_call_measures_the_tables_its_rows_refer_to(rt, admin, new_campaign, engine):
    campaign_id = new_campaign()
    assert all(rows <= 0 for rows in measured_rows(engine).values())   # never measured
    add(rt, admin, campaign_id, 500, "p")
    assert measured_rows(engine) == {"contacts": 500, "invitations": 500}
    plan = generic_plan(engine, KEY_CHECK, "1, 1")
    assert "Index Cond: ((account_id = $1) AND (id = $2))" in plan, plan


def test_the_key_check_of_an_unmeasured_table_reads_the_whole_account(engine):
    """What the measurement prevents, shown on the same schema: without statistics the
    kept plan finds an invitation among all the account's rows (a filter on id)."""
    plan = generic_plan(engine, KEY_CHECK, "1, 1")
    assert "Filter: (id = $2)" in plan, plan


def analyzed(seen: list[str]) -> list[str]:
    return [statement for statement in seen if statement.startswith("ANALYZE")]


def test_a_call_below_the_bulk_size_reads_no_catalog(rt, admin, new_campaign, engine):
    campaign_id = new_campaign()
    with statements(engine) as seen:
        add(rt, admin, campaign_id, 3, "s")
    assert not [s for s in seen if "pg_class" in s] and not analyzed(seen)
    assert all(rows <= 0 for rows in measured_rows(engine).values())


def test_a_table_is_measured_again_only_when_a_call_adds_more_than_it_counted(
        rt, admin, new_campaign, engine):
    campaign_id = new_campaign()
    with statements(engine) as seen:
        add(rt, admin, campaign_id, 150, "a")
    assert analyzed(seen) == ["ANALYZE contacts, invitations"]
    with statements(engine) as seen:
        add(rt, admin, campaign_id, 120, "b")   # fewer than the 150 counted
    assert not analyzed(seen)
    assert measured_rows(engine) == {"contacts": 150, "invitations": 150}
    with statements(engine) as seen:
        add(rt, admin, campaign_id, 400, "c")   # a table of 270 grows by 400
    assert analyzed(seen) == ["ANALYZE contacts, invitations"]
    assert measured_rows(engine) == {"contacts": 670, "invitations": 670}
