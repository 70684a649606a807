"""The walking skeleton through the service layer, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from service.domain.errors import (Conflict, Forbidden, NotFound, Quarantined, UnknownCampaign,
                                   ValidationError)
from service.domain.surveys import AnswerErrors
from tests.conftest import call
from service.services.keys import authenticate, create_account_key
from service.services.results import record_answers
from service.services import messages as m
from service.domain.credentials import Credentials


def make_survey(rt, admin) -> int:
    return call(rt, admin, "CreateSurvey", title="After your support call", language="en",
                questions=[m.Question(key="nps", type="nps", text="How likely ...?", required=True),
                           m.Question(key="topics", type="multi", text="What about?",
                                      choices=["speed", "price", "staff"]),
                           m.Question(key="comment", type="text", text="Anything else?")]
                ).survey_id


def make_campaign(rt, admin, **settings) -> int:
    survey_id = make_survey(rt, admin)
    return call(rt, admin, "CreateCampaign", survey_id=survey_id, name="Support",
                **settings).campaign_id


def test_survey_to_export_scenario(rt, admin, clock):
    campaign_id = make_campaign(rt, admin, link_valid_days=30)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=" Ana@Example.COM ",
                params=[m.Param("ticket", "T-1")], crm_id="crm-1", event_id="evt-1")
    assert link.url.startswith("http://feedloop.test/s/")
    assert "ana" not in link.url.lower() and "T-1" not in link.url
    assert link.status == "sent"
    assert link.expires_at == clock.now.replace() + __import__("datetime").timedelta(days=30)

    clock.advance(hours=1)
    token = link.url.rsplit("/", 1)[1]
    response = call(rt, admin, "RecordResponse", token=token,
                    answers=[m.Answer("nps", "9"), m.Answer("topics", "staff"),
                             m.Answer("topics", "speed"), m.Answer("comment", "great")],
                    params=[m.Param("channel", "phone")])

    results = call(rt, admin, "GetContactResults", email="ana@example.com")
    assert results.crm_id == "crm-1"
    [result] = results.results
    assert (result.response_id, result.nps_score, result.nps_category) == \
        (response.response_id, 9, "promoter")
    # answers come back in survey order, multi-choice in choice order
    assert [(a.key, a.value) for a in result.answers] == \
        [("nps", "9"), ("topics", "speed"), ("topics", "staff"), ("comment", "great")]
    assert [(p.name, p.value) for p in result.params] == [("ticket", "T-1")]
    assert [(p.name, p.value) for p in result.extra_params] == [("channel", "phone")]
    assert call(rt, admin, "GetContactResults", crm_id="crm-1").results == results.results

    page = call(rt, admin, "ExportResponses", campaign_id=campaign_id)
    assert [r.response_id for r in page.records] == [response.response_id]
    assert page.has_more is False and page.records[0].email == "ana@example.com"
    assert call(rt, admin, "ExportResponses", campaign_id=campaign_id,
                after=page.next_cursor).records == []


def test_export_pages_follow_the_cursor_exactly_once(rt, admin):
    campaign_id = make_campaign(rt, admin)
    expected = []
    for i in range(7):
        link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=f"p{i}@example.com")
        expected.append(call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
                             answers=[m.Answer("nps", str(i))]).response_id)
    seen, cursor, pages = [], None, 0
    while True:
        page = call(rt, admin, "ExportResponses", campaign_id=campaign_id, after=cursor, limit=3)
        seen += [r.response_id for r in page.records]
        cursor, pages = page.next_cursor, pages + 1
        if not page.has_more:
            break
    assert seen == expected and pages == 3


def test_same_open_invitation_gives_the_same_url(rt, admin):
    campaign_id = make_campaign(rt, admin)
    first = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com",
                 params=[m.Param("ticket", "1")])
    again = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="A@example.com",
                 params=[m.Param("ticket", "1")])
    assert again == first


def test_repeated_event_id_returns_the_first_result(rt, admin, clock):
    campaign_id = make_campaign(rt, admin, quarantine_days=30)
    first = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com",
                 params=[m.Param("ticket", "1")], event_id="E1")
    clock.advance(days=1)
    again = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com",
                 params=[m.Param("ticket", "1")], event_id="E1")
    assert again == first
    with pytest.raises(Conflict, match="another email"):
        call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="b@example.com",
             event_id="E1")


def test_quarantined_contact_is_refused_until_end_date(rt, admin, clock):
    campaign_id = make_campaign(rt, admin, quarantine_days=30)
    call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com",
         params=[m.Param("ticket", "1")])
    clock.advance(days=29)
    with pytest.raises(Quarantined, match="ends 2026-12-02T09:00:00Z") as caught:
        call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com",
             params=[m.Param("ticket", "2")])
    assert caught.value.details["until"].isoformat() == "2026-12-02T09:00:00+00:00"
    clock.advance(days=1)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com",
                params=[m.Param("ticket", "2")])
    assert link.status == "sent"


def test_expired_link_cannot_be_answered(rt, admin, clock):
    campaign_id = make_campaign(rt, admin, link_valid_days=7)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    clock.advance(days=7)
    with pytest.raises(Conflict) as refused:
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", "3")])
    assert refused.value.message == f"Invitation {link.invitation_id} is expired."


def test_second_response_to_an_invitation_is_refused(rt, admin):
    campaign_id = make_campaign(rt, admin)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id, answers=[m.Answer("nps", "3")])
    with pytest.raises(Conflict) as refused:
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", "4")])
    assert refused.value.message == f"Invitation {link.invitation_id} has already been answered."
    assert len(call(rt, admin, "ExportResponses", campaign_id=campaign_id).records) == 1


def test_a_response_that_loses_the_race_to_an_invitation_is_refused(rt, admin, clock):
    campaign_id = make_campaign(rt, admin)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    with rt.uow(read_only=True) as uow:
        campaign = uow.campaigns.get(admin.account_id, campaign_id)
        survey = uow.surveys.get(admin.account_id, campaign.survey_id)
        read_before_the_other = uow.invitations.get(admin.account_id, link.invitation_id)
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "3")])
    with rt.uow() as uow, pytest.raises(Conflict) as refused:
        record_answers(uow, admin.account_id, campaign, survey, read_before_the_other,
                       {"nps": ["4"]}, {}, clock.now)
    assert refused.value.message == f"Invitation {link.invitation_id} has already been answered."
    assert len(call(rt, admin, "ExportResponses", campaign_id=campaign_id).records) == 1


@pytest.mark.parametrize("answers, message", [
    ([m.Answer("nps", "11")], "from 0 to 10"),
    ([m.Answer("comment", "x")], "'nps' is required"),
    ([m.Answer("nps", "5"), m.Answer("topics", "weather")], "not a choice"),
    ([m.Answer("nps", "5"), m.Answer("colour", "red")], "not a question"),
])
def test_invalid_answers_are_refused_with_the_reason(rt, admin, answers, message):
    campaign_id = make_campaign(rt, admin)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    with pytest.raises(ValidationError, match=message):
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id, answers=answers)


def test_another_accounts_ids_behave_like_missing_ones(rt, admin):
    campaign_id = make_campaign(rt, admin)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    other_key = create_account_key(rt, "globex", ["admin"])
    other = authenticate(rt, Credentials(other_key.key_id, other_key.secret))
    for name, fields, error in [
        ("GetSurvey", {"survey_id": 1}, NotFound),
        ("GetCampaign", {"campaign_id": campaign_id}, UnknownCampaign),
        ("GetTrackingUrl", {"campaign_id": campaign_id, "email": "a@example.com"}, UnknownCampaign),
        ("RecordResponse", {"invitation_id": link.invitation_id,
                            "answers": [m.Answer("nps", "1")]}, NotFound),
        ("RecordResponse", {"token": link.url.rsplit("/", 1)[1],
                            "answers": [m.Answer("nps", "1")]}, NotFound),
        ("ExportResponses", {"campaign_id": campaign_id}, UnknownCampaign),
        ("GetContactResults", {"email": "a@example.com"}, NotFound),
    ]:
        with pytest.raises(error) as theirs:
            call(rt, other, name, **fields)
        assert type(theirs.value) is error, name
    assert call(rt, other, "ListSurveys").surveys == []
    assert call(rt, other, "ListCampaigns").campaigns == []


def test_trigger_key_cannot_create_surveys(rt, admin):
    campaign_id = make_campaign(rt, admin)
    key = call(rt, admin, "CreateApiKey", scopes=["trigger"], label="crm")
    trigger = authenticate(rt, Credentials(key.key_id, key.secret))
    with pytest.raises(Forbidden, match="'admin' scope"):
        make_survey(rt, trigger)
    assert call(rt, trigger, "GetTrackingUrl", campaign_id=campaign_id,
                email="a@example.com").status == "sent"


def test_revoked_key_no_longer_authenticates(rt, admin):
    from service.domain.errors import Unauthorized
    key = call(rt, admin, "CreateApiKey", scopes=["read"])
    listed = call(rt, admin, "ListApiKeys").keys
    assert key.key_id in [k.key_id for k in listed]
    call(rt, admin, "RevokeApiKey", key_id=key.key_id)
    with pytest.raises(Unauthorized, match="Invalid API key or secret"):
        authenticate(rt, Credentials(key.key_id, key.secret))
    with pytest.raises(Unauthorized, match="Invalid API key or secret"):
        authenticate(rt, Credentials("fl_unknown", "whatever"))
    with pytest.raises(NotFound):
        call(rt, admin, "RevokeApiKey", key_id=key.key_id)


def test_answer_errors_list_every_problem(rt, admin):
    campaign_id = make_campaign(rt, admin)
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    with pytest.raises(AnswerErrors) as caught:
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("topics", "weather")])
    assert set(caught.value.problems) == {"nps", "topics"}
