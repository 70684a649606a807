"""Attributes belong to each send: reports group an answer by the circumstances of its trigger."""
from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text

from service.domain.errors import Quarantined, ValidationError
from service.services import messages as m
from service.services.delivery import run_recurrences
from service.services.dumps import dump_chunks, dump_rows, plan_dump, record_cells, records
from service.storage.engine import make_engine
from service.storage.migrations import upgrade
from tests.conftest import call


@pytest.fixture
def campaign_id(rt, admin, new_campaign):
    call(rt, admin, "DefineAttribute", name="store", kind="ordinal",
         values=["small", "medium", "large"])
    return new_campaign()


def attrs(**values: str) -> list[m.Attribute]:
    return [m.Attribute(k, v) for k, v in values.items()]


def by_store(rt, admin, campaign_id) -> list[tuple]:
    metrics = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id, breakdown="store")
    return [(g.value, g.invited, g.responded, g.nps) for g in metrics.breakdown]


def test_a_row_without_attributes_is_sent_with_the_contacts_attributes_of_that_moment(
        rt, admin, campaign_id):
    call(rt, admin, "UpsertContacts", contacts=[
        m.ContactRow("ana@example.com", attributes=attrs(store="medium", agent="Jo"))])
    rows = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        m.Respondent("ana@example.com"),
        m.Respondent("bo@example.com", attributes=attrs(store="small"))]).results
    call(rt, admin, "UpsertContacts", contacts=[
        m.ContactRow("ana@example.com", attributes=attrs(store="large", agent="Al"))])
    first = call(rt, admin, "GetInvitation", invitation_id=rows[0].invitation_id)
    assert first.attributes == attrs(store="medium", agent="Jo")
    assert call(rt, admin, "GetInvitation",
                invitation_id=rows[1].invitation_id).attributes == attrs(store="small")
    assert by_store(rt, admin, campaign_id) == [("small", 1, 0, None), ("medium", 1, 0, None)]


def test_each_recurrence_is_a_send_with_the_attributes_of_its_own_moment(rt, admin,
                                                                        new_campaign, clock):
    call(rt, admin, "DefineAttribute", name="store", kind="ordinal",
         values=["small", "medium", "large"])
    call(rt, admin, "SyncList", list_name="customers", mode="add", contacts=[
        m.ContactRow("ana@example.com", attributes=attrs(store="small"))])
    campaign_id = new_campaign(recurrence_days=30, recurrence_list="customers")
    assert run_recurrences(rt) == 1
    call(rt, admin, "UpsertContacts", contacts=[
        m.ContactRow("ana@example.com", attributes=attrs(store="large"))])
    clock.advance(days=31)
    assert run_recurrences(rt) == 1
    assert by_store(rt, admin, campaign_id) == [("small", 1, 0, None), ("large", 1, 0, None)]


def test_a_later_send_with_other_attributes_moves_no_earlier_answer(rt, admin, campaign_id):
    first = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="ana@example.com",
                 attributes=attrs(store="small"))
    call(rt, admin, "RecordResponse", invitation_id=first.invitation_id,
         answers=[m.Answer("nps", "10")])
    call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="ana@example.com",
         attributes=attrs(store="large"))
    call(rt, admin, "UpsertContacts", contacts=[
        m.ContactRow("ana@example.com", attributes=attrs(store="medium"))])
    assert by_store(rt, admin, campaign_id) == [("small", 1, 1, 100.0), ("large", 1, 0, None)]
    only_large = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id,
                      filters=[m.AttributeFilter("store", ["large"])])
    assert (only_large.invited, only_large.responded) == (1, 0)


def test_an_open_link_is_given_again_unless_the_send_names_other_attributes(
        rt, admin, campaign_id, new_campaign):
    def link(**values):
        return call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                    email="ana@example.com", attributes=attrs(**values))

    first = link(store="small", agent="Jo")
    assert link().invitation_id == first.invitation_id
    assert link(store="small").invitation_id == first.invitation_id
    other = link(store="large")
    assert other.invitation_id != first.invitation_id
    quarantined = new_campaign(quarantine_days=30)
    call(rt, admin, "GetTrackingUrl", campaign_id=quarantined, email="bo@example.com",
         attributes=attrs(store="small"))
    with pytest.raises(Quarantined):
        call(rt, admin, "GetTrackingUrl", campaign_id=quarantined, email="bo@example.com",
             attributes=attrs(store="large"))


def test_get_tracking_url_refuses_an_ordinal_value_like_the_bulk_operations(rt, admin,
                                                                           campaign_id):
    with pytest.raises(ValidationError) as refused:
        call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="ana@example.com",
             attributes=attrs(store="huge"))
    assert refused.value.field == "attributes"
    for operation, rows in (("UpsertContacts", "contacts"), ("SyncList", "contacts")):
        extra = {"list_name": "l", "mode": "add"} if operation == "SyncList" else {}
        result = call(rt, admin, operation, **extra, **{rows: [
            m.ContactRow("ana@example.com", attributes=attrs(store="huge"))]})
        reason = (result.rejected[0].reason if operation == "SyncList"
                  else result.results[0].reason)
        assert reason == refused.value.message
    assert by_store(rt, admin, campaign_id) == []


def test_dumps_carry_the_attributes_of_each_send_in_both_ways_of_building_rows(
        rt, admin, campaign_id):
    for store, score in (("small", "9"), ("large", "3")):
        link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                    email="ana@example.com", attributes=attrs(store=store))
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", score)])
    plan = plan_dump(rt, admin, campaign_id)
    assert plan.attribute_names == ["store"]
    table = list(csv.DictReader(io.StringIO(
        b"".join(dump_chunks(plan, dump_rows(rt, plan, "csv"), "csv")).decode(), newline="")))
    assert [(row["q.nps"], row["a.store"]) for row in table] == [("9", "small"), ("3", "large")]
    built = [record_cells(plan, record) for record in records(rt, plan)]
    assert [cells[-1] for cells in built] == ["small", "large"]
    lines = b"".join(dump_chunks(plan, dump_rows(rt, plan, "jsonl"), "jsonl")).splitlines()
    assert [json.loads(line)["attributes"] for line in lines] == [{"store": "small"},
                                                                  {"store": "large"}]


def test_erasing_a_contact_drops_the_attributes_of_its_sends(rt, admin, campaign_id):
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="ana@example.com",
                attributes=attrs(store="small"))
    call(rt, admin, "EraseContact", email="ana@example.com")
    assert call(rt, admin, "GetInvitation", invitation_id=link.invitation_id).attributes == []
    assert by_store(rt, admin, campaign_id) == [("", 1, 0, None)]


def test_the_migration_gives_existing_sends_their_contacts_attributes_and_old_code_can_insert(
        empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0008")
    now = "2026-11-01 10:00:00"
    invite = text("INSERT INTO invitations (account_id, campaign_id, contact_id, nonce, params,"
                  " status, created_at) VALUES (1, 1, :id, :nonce, '{}', 'sent', :now)")
    with engine.begin() as db:
        db.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', :now)"),
                   {"now": now})
        db.execute(text(
            "INSERT INTO surveys (id, account_id, title, language, questions, created_at) "
            "VALUES (1, 1, 't', 'en', '[]', :now)"), {"now": now})
        db.execute(text(
            "INSERT INTO campaigns (id, account_id, survey_id, public_id, name, status, delivery,"
            " send_delay_minutes, reminder_days, max_reminders, quarantine_days,"
            " quarantine_scope, link_valid_days, recurrence_days, templates, notify_emails,"
            " notify_on, crm_push, crm_tag, webhooks, created_at, updated_at) VALUES (1, 1, 1,"
            " 'p', 'c', 'active', 'crm', 0, 0, 0, 0, 'campaign', 0, 0, '{}', '[]', 'all',"
            " false, '', '[]', :now, :now)"), {"now": now})
        for contact, stored in ((1, '{"store": "small"}'), (2, "{}"), (3, "{}")):
            db.execute(text(
                "INSERT INTO contacts (id, account_id, email, attributes, created_at, updated_at)"
                " VALUES (:id, 1, :email, :attributes, :now, :now)"),
                {"id": contact, "email": f"{contact}@example.com", "attributes": stored,
                 "now": now})
        for contact in (1, 2):
            db.execute(invite, {"id": contact, "nonce": bytes([contact]) * 16, "now": now})
    upgrade(engine)
    with engine.begin() as db:  # as the release before this one inserts, during an upgrade
        db.execute(invite, {"id": 3, "nonce": bytes([3]) * 16, "now": now})
    with engine.connect() as db:
        filled = db.execute(text(
            "SELECT contact_id, attributes FROM invitations ORDER BY contact_id")).all()
    engine.dispose()
    assert [(contact, json.loads(stored) if isinstance(stored, str) else stored)
            for contact, stored in filled] == [(1, {"store": "small"}), (2, {}), (3, {})]
