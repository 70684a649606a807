"""Corrections and cancellations: CorrectResponse, CancelInvitation and CloseCampaign."""
from __future__ import annotations

import pytest

from service.domain.errors import Conflict, NotFound, ValidationError
from service.services import messages as m
from service.services.delivery import claim_mail
from service.services.respondents import open_campaign, open_invitation
from tests.conftest import call


@pytest.fixture
def survey_campaign(rt, admin):
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en", questions=[
        m.Question(key="nps", type="nps", text="?", required=True),
        m.Question(key="topic", type="single", text="?", choices=["price", "speed"]),
        m.Question(key="comment", type="text", text="?")]).survey_id
    return call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c").campaign_id


def respond(rt, admin, campaign_id, email="ana@example.com", **answers) -> tuple:
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=email)
    response_id = call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
                       answers=[m.Answer(k, v) for k, v in answers.items()]).response_id
    return link, response_id


def audited(rt, admin) -> list[tuple[str, str]]:
    return [(e.operation, e.target) for e in call(rt, admin, "ListAuditLog").entries]


def test_a_correction_changes_the_given_answers_and_is_exported_again_as_corrected(
        rt, admin, survey_campaign):
    _, response_id = respond(rt, admin, survey_campaign, nps="3", topic="price", comment="slow")
    first = call(rt, admin, "ExportResponses", campaign_id=survey_campaign)
    corrected = call(rt, admin, "CorrectResponse", response_id=response_id,
                     answers=[m.Answer("nps", "9"), m.Answer("comment", "")])
    assert (corrected.change, corrected.nps_score) == ("corrected", 9)
    assert corrected.answers == [m.Answer("nps", "9"), m.Answer("topic", "price")]
    again = call(rt, admin, "ExportResponses", campaign_id=survey_campaign,
                 after=first.next_cursor).records
    assert [(r.response_id, r.change, r.nps_score, r.nps_category) for r in again] == [
        (response_id, "corrected", 9, "promoter")]
    assert call(rt, admin, "GetCampaignMetrics", campaign_id=survey_campaign).nps == 100.0
    assert ("CorrectResponse", f"response_id={response_id}") in audited(rt, admin)


@pytest.mark.parametrize("answers, error", [
    ([m.Answer("nps", "11")], ValidationError), ([m.Answer("nps", "")], ValidationError),
    ([m.Answer("nope", "1")], ValidationError)])
def test_a_correction_is_held_to_the_surveys_rules(rt, admin, survey_campaign, answers, error):
    _, response_id = respond(rt, admin, survey_campaign, nps="3")
    with pytest.raises(error):
        call(rt, admin, "CorrectResponse", response_id=response_id, answers=answers)
    assert call(rt, admin, "ExportResponses", campaign_id=survey_campaign).records[0].change == "new"


def test_an_erased_or_unknown_response_cannot_be_corrected(rt, admin, survey_campaign):
    _, response_id = respond(rt, admin, survey_campaign, nps="3")
    call(rt, admin, "EraseContact", email="ana@example.com")
    with pytest.raises(Conflict, match="erased contact"):
        call(rt, admin, "CorrectResponse", response_id=response_id, answers=[m.Answer("nps", "9")])
    with pytest.raises(NotFound, match="No response 987654 in your account."):
        call(rt, admin, "CorrectResponse", response_id=987654, answers=[m.Answer("nps", "9")])


def test_a_cancelled_invitation_is_never_mailed_and_its_link_shows_closed(rt, admin, clock):
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en", questions=[
        m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
                       delivery="email", send_delay_minutes=60, quarantine_days=30).campaign_id
    row = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        m.Respondent("ana@example.com")]).results[0]
    cancelled = call(rt, admin, "CancelInvitation", invitation_id=row.invitation_id,
                     reason="order returned")
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", clock())
    clock.advance(hours=2)
    assert call(rt, admin, "CancelInvitation", invitation_id=row.invitation_id) == cancelled
    assert claim_mail(rt, "w1") == []
    token = row.url.rsplit("/", 1)[1]
    assert open_invitation(rt, token).state == "closed"
    with pytest.raises(Conflict):
        call(rt, admin, "RecordResponse", token=token, answers=[m.Answer("nps", "9")])
    info = call(rt, admin, "GetInvitation", invitation_id=row.invitation_id)
    assert info.status == "cancelled"
    assert [(h.event, h.detail) for h in info.history][-1] == ("cancelled", "order returned")
    metrics = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id)
    assert metrics.invited == 0
    # the withdrawn send does not hold the contact in quarantine: the ticket may close again
    again = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        m.Respondent("ana@example.com")]).results[0]
    assert again.status == "scheduled"
    assert ("CancelInvitation", f"invitation_id={row.invitation_id}") in audited(rt, admin)


def test_an_answered_invitation_cannot_be_cancelled(rt, admin, survey_campaign):
    link, _ = respond(rt, admin, survey_campaign, nps="3")
    with pytest.raises(Conflict) as refused:
        call(rt, admin, "CancelInvitation", invitation_id=link.invitation_id)
    assert refused.value.message == (f"Invitation {link.invitation_id} is responded: only an "
                                     "unanswered invitation can be cancelled.")
    with pytest.raises(NotFound):
        call(rt, admin, "CancelInvitation", invitation_id=987654)


def test_a_closed_campaign_takes_nothing_new_and_keeps_its_data_for_export(
        rt, admin, survey_campaign):
    respond(rt, admin, survey_campaign, nps="9")
    pending = call(rt, admin, "GetTrackingUrl", campaign_id=survey_campaign,
                   email="bo@example.com")
    closed = call(rt, admin, "CloseCampaign", campaign_id=survey_campaign)
    assert closed.status == "closed"
    assert call(rt, admin, "CloseCampaign", campaign_id=survey_campaign).status == "closed"
    with pytest.raises(Conflict):
        call(rt, admin, "GetTrackingUrl", campaign_id=survey_campaign, email="cy@example.com")
    with pytest.raises(Conflict, match="is closed: it takes no more answers"):
        call(rt, admin, "RecordResponse", invitation_id=pending.invitation_id,
             answers=[m.Answer("nps", "9")])
    with pytest.raises(Conflict, match="closed for good"):
        call(rt, admin, "UpdateCampaign", campaign_id=survey_campaign, status="active")
    renamed = call(rt, admin, "UpdateCampaign", campaign_id=survey_campaign, name="old")
    assert (renamed.name, renamed.status) == ("old", "closed")
    assert open_campaign(rt, closed.open_url.rsplit("/", 1)[1]).state == "closed"
    assert len(call(rt, admin, "ExportResponses", campaign_id=survey_campaign).records) == 1
    assert ("CloseCampaign", f"campaign_id={survey_campaign} survey_id={closed.survey_id}") \
        in audited(rt, admin)


def test_a_paused_campaign_can_be_resumed(rt, admin, survey_campaign):
    call(rt, admin, "UpdateCampaign", campaign_id=survey_campaign, status="paused")
    assert call(rt, admin, "UpdateCampaign", campaign_id=survey_campaign,
                status="active").status == "active"
