"""Erasure, access requests, the audit log and throttled authentication (SQLite and PostgreSQL)."""
from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from service.domain.credentials import Credentials
from service.domain.errors import NotFound, TooManyRequests, Unauthorized
from tests.conftest import call
from service.services import messages as m
from service.services.keys import THROTTLE_LIMIT, authenticate
from service.services.runtime import RecentCache
from service.storage.tables import auth_failures, metadata

EMAIL = "ana.erase@example.com"


@pytest.fixture
def answered(rt, admin):
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en", questions=[
        m.Question(key="nps", type="nps", text="?"), m.Question(key="why", type="text", text="?"),
        m.Question(key="mail", type="email", text="?")]).survey_id
    call(rt, admin, "RotateWebhookSecret", confirm=True)
    # A webhook nobody answers: the response waits in the outbox, personal data and all.
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
                       webhooks=["http://127.0.0.1:9/hook"]).campaign_id
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=EMAIL,
                crm_id="CRM-ANA", params=[m.Param("customer", "Ana Erase")],
                attributes=[m.Attribute("name", "Ana")], event_id=f"signup {EMAIL}")
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "3"), m.Answer("why", "I am Ana, call me"),
                  m.Answer("mail", EMAIL)], params=[m.Param("src", EMAIL)])
    first = call(rt, admin, "ExportResponses", campaign_id=campaign_id)
    return campaign_id, first.next_cursor


def database_text(engine) -> str:
    with engine.connect() as connection:
        return json.dumps([[list(map(str, row)) for row in connection.execute(select(table))]
                           for table in metadata.sorted_tables])


def test_export_contact_data_lists_everything_held(rt, admin, answered):
    data = call(rt, admin, "ExportContactData", email=EMAIL.upper())
    assert (data.email, data.crm_id) == (EMAIL, "CRM-ANA")
    assert [(a.name, a.value) for a in data.attributes] == [("name", "Ana")]
    [invitation] = data.invitations
    assert invitation.status == "responded" and invitation.event_id == f"signup {EMAIL}"
    [response] = data.responses
    assert {(a.key, a.value) for a in response.answers} >= {("why", "I am Ana, call me")}
    assert [(p.name, p.value) for p in response.extra_params] == [("src", EMAIL)]


def test_erased_contact_leaves_no_trace_but_its_score(rt, admin, answered, engine):
    campaign_id, cursor = answered
    assert EMAIL in database_text(engine)
    assert call(rt, admin, "ListDeliveries", state="pending").deliveries
    result = call(rt, admin, "EraseContact", email=EMAIL)
    assert (result.invitations, result.responses) == (1, 1)
    [undelivered] = call(rt, admin, "ListDeliveries").deliveries
    assert (undelivered.state, undelivered.last_error) == ("dead", "not sent: the contact was erased")
    text = database_text(engine)
    for personal in (EMAIL, "Ana Erase", "I am Ana", "CRM-ANA", '"Ana"'):
        assert personal not in text
    [record] = call(rt, admin, "ExportResponses", campaign_id=campaign_id, after=cursor).records
    assert record.change == "erased" and record.email is None and record.crm_id is None
    assert [(a.key, a.value) for a in record.answers] == [("nps", "3")]
    assert record.params == [] and record.extra_params == []
    with pytest.raises(NotFound):
        call(rt, admin, "GetContactResults", email=EMAIL)
    entries = call(rt, admin, "ListAuditLog").entries
    assert entries[0].operation == "EraseContact"
    assert entries[0].target == f"contact_id={result.contact_id}"
    assert EMAIL not in database_text(engine)


def test_audit_log_records_admin_changes_by_whom_and_when(rt, admin, answered, clock):
    entries = call(rt, admin, "ListAuditLog").entries
    assert {e.at for e in entries} == {clock.now}
    assert [e.operation for e in entries] == ["CreateCampaign", "RotateWebhookSecret",
                                             "CreateSurvey"]
    assert {e.key_id for e in entries} == {admin.key_id}
    assert entries[0].target.startswith("survey_id=") and "campaign_id=" in entries[0].target
    key = call(rt, admin, "CreateApiKey", scopes=["read"])
    reader = authenticate(rt, Credentials(key.key_id, key.secret))
    call(rt, reader, "ListSurveys")
    latest = call(rt, admin, "ListAuditLog", limit=1).entries
    assert [(e.operation, e.target) for e in latest] == [("CreateApiKey", f"key_id={key.key_id}")]


def test_repeated_failures_from_one_address_are_throttled_but_valid_keys_still_pass(
        rt, admin_key, clock):
    good = Credentials(admin_key.key_id, admin_key.secret)
    for _ in range(THROTTLE_LIMIT):
        with pytest.raises(Unauthorized):
            authenticate(rt, Credentials(admin_key.key_id, "wrong"), "203.0.113.9")
    with pytest.raises(TooManyRequests) as throttled:
        authenticate(rt, Credentials(admin_key.key_id, "wrong"), "203.0.113.9")
    assert throttled.value.message == ("Too many failed authentications from your address or "
                                       "for this key; try again after 2026-11-02T09:05:00Z.")
    # Behind one NAT, a misconfigured script must not lock out the other integrations.
    assert authenticate(rt, good, "203.0.113.9").key_id == admin_key.key_id
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(Unauthorized):
        authenticate(rt, Credentials(admin_key.key_id, "wrong"), "203.0.113.9")


def test_addresses_alike_in_their_first_64_characters_are_throttled_as_one(rt):
    unknown_key = Credentials("fl_0000000000000000", "wrong")   # counted per address only
    stem = "2001:db8::" + "f" * 54
    for attempt in range(THROTTLE_LIMIT):
        with pytest.raises(Unauthorized):
            authenticate(rt, unknown_key, f"{stem}{attempt}")
    with pytest.raises(TooManyRequests):
        authenticate(rt, unknown_key, f"{stem}x")


def test_failures_for_one_key_from_many_addresses_are_throttled_but_the_key_still_passes(
        rt, admin_key, clock):
    wrong = Credentials(admin_key.key_id, "wrong")
    for attempt in range(THROTTLE_LIMIT):
        with pytest.raises(Unauthorized):
            authenticate(rt, wrong, f"198.51.100.{attempt}")
    with pytest.raises(TooManyRequests, match="for this key"):
        authenticate(rt, wrong, "198.51.100.200")
    # Another key from a fresh address is not concerned, and the right secret passes.
    with pytest.raises(Unauthorized):
        authenticate(rt, Credentials("fl_nosuchkey", "x"), "198.51.100.201")
    assert authenticate(rt, Credentials(admin_key.key_id, admin_key.secret),
                        "198.51.100.202").key_id == admin_key.key_id
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(Unauthorized):
        authenticate(rt, wrong, "198.51.100.203")


def test_made_up_key_ids_leave_no_throttle_rows_of_their_own(rt, engine):
    for number in range(3):
        with pytest.raises(Unauthorized):
            authenticate(rt, Credentials(f"fl_made_up_{number}", "x"), "192.0.2.77")
    with engine.connect() as connection:
        assert connection.execute(select(auth_failures.c.address)).scalars().all() == [
            "192.0.2.77"]


def test_a_key_revoked_by_another_process_stops_working_within_the_cache_time(
        rt, admin, admin_key):
    key = call(rt, admin, "CreateApiKey", scopes=["read"])
    credentials = Credentials(key.key_id, key.secret)
    assert authenticate(rt, credentials).key_id == key.key_id
    elapsed = [0.0]
    rt.keys.monotonic = lambda: elapsed[0]
    authenticate(rt, credentials)  # cached from here on
    other_process = dataclasses.replace(rt, keys=RecentCache(seconds=5.0))
    call(other_process, admin, "RevokeApiKey", key_id=key.key_id)
    assert authenticate(rt, credentials).key_id == key.key_id
    elapsed[0] = 5.0
    with pytest.raises(Unauthorized):
        authenticate(rt, credentials)


def test_a_key_revoked_in_this_process_stops_working_at_once(rt, admin):
    key = call(rt, admin, "CreateApiKey", scopes=["read"])
    credentials = Credentials(key.key_id, key.secret)
    assert authenticate(rt, credentials).key_id == key.key_id
    call(rt, admin, "RevokeApiKey", key_id=key.key_id)
    with pytest.raises(Unauthorized):
        authenticate(rt, credentials)


def test_failures_spread_over_time_are_not_throttled(rt, admin_key, clock):
    for _ in range(THROTTLE_LIMIT * 2):
        with pytest.raises(Unauthorized):
            authenticate(rt, Credentials("fl_nosuchkey", "x"), "203.0.113.10")
        clock.advance(minutes=1)
    assert authenticate(rt, Credentials(admin_key.key_id, admin_key.secret), "203.0.113.10")


def test_rotation_keeps_both_keys_working_until_the_grace_period_ends(rt, admin, admin_key, clock):
    old = call(rt, admin, "CreateApiKey", scopes=["trigger"], label="crm")
    new = call(rt, admin, "CreateApiKey", scopes=["trigger"], label="crm", replaces=old.key_id,
               replaced_grace_hours=2)
    for key in (old, new):
        assert authenticate(rt, Credentials(key.key_id, key.secret)).scopes == {"trigger"}
    clock.advance(hours=2)
    with pytest.raises(Unauthorized):
        authenticate(rt, Credentials(old.key_id, old.secret))
    assert authenticate(rt, Credentials(new.key_id, new.secret))
    listed = {k.key_id: k for k in call(rt, admin, "ListApiKeys").keys}
    assert listed[old.key_id].active is False and listed[new.key_id].active is True
    with pytest.raises(NotFound):
        call(rt, admin, "CreateApiKey", scopes=["read"], replaces="fl_0000000000000000")
