"""The rules at their edges, through both ways of inviting: the end of a quarantine to the
second, account-wide quarantine, unsubscribed people, and every formula start in CSV cells."""
from __future__ import annotations

import csv
import io

import pytest

from service.domain.errors import Quarantined, Unsubscribed, ValidationError
from service.services import messages as m
from service.services.distribution import unsubscribe
from service.services.dumps import dump_rows, plan_dump, write_dump
from tests.conftest import call

DOORS = ["GetTrackingUrl", "AddRespondents"]


def campaign(rt, admin, **settings) -> int:
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    return call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c", **settings).campaign_id


def invite(rt, admin, door: str, campaign_id: int, email: str, ticket: str = "1") -> str:
    """Invite one person through ``door``: 'sent', or why not ('quarantine', 'unsubscribed')."""
    # A ticket differing from the last call's asks for a new link, not the same open one.
    params = [m.Param("ticket", ticket)]
    if door == "GetTrackingUrl":
        try:
            return call(rt, admin, door, campaign_id=campaign_id, email=email, params=params).status
        except Quarantined:
            return "quarantine"
        except Unsubscribed as refused:
            assert refused.message == f"{email} has unsubscribed from your surveys."
            return "unsubscribed"
    [row] = call(rt, admin, door, campaign_id=campaign_id,
                 respondents=[m.Respondent(email=email, params=params)]).results
    return row.reason or row.status


@pytest.mark.parametrize("door", DOORS)
def test_quarantine_ends_exactly_n_days_after_the_last_invitation(rt, admin, clock, door):
    campaign_id = campaign(rt, admin, quarantine_days=30)
    assert invite(rt, admin, door, campaign_id, "a@example.com", "1") == "sent"
    clock.advance(days=30, seconds=-1)
    assert invite(rt, admin, door, campaign_id, "a@example.com", "2") == "quarantine"
    clock.advance(seconds=1)
    assert invite(rt, admin, door, campaign_id, "a@example.com", "3") == "sent"


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("scope, after_another_campaign", [
    ("account", "quarantine"), ("campaign", "sent")])
def test_account_wide_quarantine_counts_invitations_of_every_campaign(
        rt, admin, clock, door, scope, after_another_campaign):
    other = campaign(rt, admin)
    guarded = campaign(rt, admin, quarantine_days=30, quarantine_scope=scope)
    assert invite(rt, admin, door, other, "a@example.com") == "sent"
    clock.advance(days=1)
    assert invite(rt, admin, door, guarded, "a@example.com") == after_another_campaign
    assert invite(rt, admin, door, guarded, "b@example.com") == "sent"


def test_account_wide_quarantine_names_any_campaign_and_its_end(rt, admin, clock):
    other = campaign(rt, admin)
    guarded = campaign(rt, admin, quarantine_days=30, quarantine_scope="account")
    call(rt, admin, "GetTrackingUrl", campaign_id=other, email="a@example.com")
    clock.advance(days=1)
    with pytest.raises(Quarantined) as refused:
        call(rt, admin, "GetTrackingUrl", campaign_id=guarded, email="a@example.com")
    assert refused.value.message == (
        "a@example.com was invited by any campaign on 2026-11-02 09:00 UTC; the 30-day "
        "quarantine ends 2026-12-02T09:00:00Z.")


@pytest.mark.parametrize("door", DOORS)
def test_unsubscribed_person_gets_no_new_link(rt, admin, door):
    campaign_id = campaign(rt, admin)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com",
                params=[m.Param("ticket", "1")])
    assert unsubscribe(rt, link.url.rsplit("/", 1)[1]) is True
    for ticket in ("1", "2"):  # neither the open link nor a new one
        assert invite(rt, admin, door, campaign_id, "a@example.com", ticket) == "unsubscribed"
    assert invite(rt, admin, door, campaign_id, "b@example.com") == "sent"


#: Text cell -> as written to CSV. OWASP's formula starts get a leading quote, nothing else does.
CELLS = {"=1+1": "'=1+1", "+1+1": "'+1+1", "-1+1": "'-1+1", "@SUM(A1)": "'@SUM(A1)",
         "\tx": "'\tx", "\rx": "'\rx", "a=1": "a=1", " =1": " =1", "1": "1"}


def test_csv_neutralises_every_formula_start_and_only_those(rt, admin):
    campaign_id = campaign(rt, admin)
    for i, text in enumerate(CELLS):
        link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                    email=f"p{i}@example.com", params=[m.Param("ticket", text)])
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", "9")])
    plan = plan_dump(rt, admin, campaign_id)
    out = io.BytesIO()
    write_dump(plan, dump_rows(rt, plan, "csv"), out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"), newline="")))
    assert {text: row["p.ticket"] for text, row in zip(CELLS, rows)} == CELLS


def test_unsubscribing_is_recorded_once_and_a_forged_link_does_nothing(rt, admin):
    campaign_id = campaign(rt, admin)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    token = link.url.rsplit("/", 1)[1]
    assert unsubscribe(rt, token[:-1] + ("A" if token[-1] != "A" else "B")) is False
    assert unsubscribe(rt, token) is True and unsubscribe(rt, token) is True
    history = call(rt, admin, "GetInvitation", invitation_id=link.invitation_id).history
    assert [(h.event, h.detail) for h in history] == [
        ("created", "GetTrackingUrl"), ("sent", "link returned to the caller (crm delivery)"),
        ("unsubscribed", "")]


def test_each_invalid_contact_row_gets_its_own_reason(rt, admin):
    results = call(rt, admin, "UpsertContacts", contacts=[
        m.ContactRow(email="a@example.com"), m.ContactRow(email="not an email")]).results
    assert [(r.status, r.reason) for r in results] == [
        ("created", None), ("invalid", "'not an email' is not a valid email address.")]


def test_admin_reads_leave_no_audit_entry_and_admin_changes_do(rt, admin):
    call(rt, admin, "UpsertContacts", contacts=[m.ContactRow(email="a@example.com")])
    call(rt, admin, "GetCrmPush")
    call(rt, admin, "ExportContactData", email="a@example.com")
    call(rt, admin, "ListApiKeys")
    assert call(rt, admin, "ListAuditLog").entries == []
    campaign_id = campaign(rt, admin)
    assert [(e.operation, e.key_id, e.target) for e in call(rt, admin, "ListAuditLog").entries] \
        == [("CreateCampaign", admin.key_id, f"survey_id=1 campaign_id={campaign_id}"),
            ("CreateSurvey", admin.key_id, "survey_id=1")]


def test_a_bad_export_cursor_is_refused_naming_the_after_field(rt, admin):
    with pytest.raises(ValidationError) as refused:
        call(rt, admin, "ExportResponses", campaign_id=campaign(rt, admin), after="x")
    assert refused.value.field == "after"
