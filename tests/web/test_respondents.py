"""The respondent use cases on SQLite and PostgreSQL: states, idempotency under races."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.services import messages as m
from service.services.respondents import (answer_campaign, answer_invitation, capture_params,
                                          open_campaign, open_invitation)
from service.services.runtime import utc_now
from tests.conftest import call


def make_link(rt, admin, **campaign):
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en", questions=[
        m.Question(key="nps", type="nps", text="?", required=True),
        m.Question(key="email", type="email", text="Email?")]).survey_id
    created = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c", **campaign)
    url = call(rt, admin, "GetTrackingUrl", campaign_id=created.campaign_id,
               email="ana@example.com").url
    return created, url.rsplit("/", 1)[1]


def test_concurrent_submits_of_one_link_record_one_response_and_all_say_thanks(rt, admin):
    rt.clock = utc_now
    created, token = make_link(rt, admin)
    barrier = threading.Barrier(6)

    def submit(_):
        barrier.wait()
        return answer_invitation(rt, token, {"nps": ["8"]}, {})

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(submit, range(6)))
    assert {o.view.state for o in outcomes} == {"thanks"}
    assert len([o for o in outcomes if o.response_id is not None]) == 1
    records = call(rt, admin, "ExportResponses", campaign_id=created.campaign_id).records
    assert len(records) == 1


def test_states_of_a_personal_link_in_order_of_precedence(rt, admin, clock):
    created, token = make_link(rt, admin, link_valid_days=1)
    assert open_invitation(rt, token).state == "open"
    call(rt, admin, "UpdateCampaign", campaign_id=created.campaign_id, status="paused")
    assert open_invitation(rt, token).state == "paused"
    clock.advance(days=2)
    assert open_invitation(rt, token).state == "paused"  # paused says more than expired
    call(rt, admin, "UpdateCampaign", campaign_id=created.campaign_id, status="active")
    assert open_invitation(rt, token).state == "expired"
    assert answer_invitation(rt, token, {"nps": ["8"]}, {}).view.state == "expired"
    assert open_invitation(rt, token[:-1] + "x").state == "unknown"


def test_refused_answers_come_back_as_problem_codes(rt, admin):
    _, token = make_link(rt, admin)
    outcome = answer_invitation(rt, token, {"nps": ["11"], "email": ["nope"]}, {})
    assert outcome.view.state == "open" and outcome.response_id is None
    assert outcome.problems == {"nps": "range", "email": "email"}
    assert answer_invitation(rt, token, {"email": ["a@example.com"]}, {}).problems == \
        {"nps": "required"}


def test_open_link_answers_upsert_the_contact_of_the_email_answer(rt, admin):
    created, _ = make_link(rt, admin)
    public_id = created.open_url.rsplit("/", 1)[1]
    assert open_campaign(rt, public_id).state == "open"
    outcome = answer_campaign(rt, public_id, {"nps": ["3"], "email": ["New@Example.com"]},
                              {"crm": "42"}, "form-1")
    assert outcome.view.state == "thanks"
    [result] = call(rt, admin, "GetContactResults", email="new@example.com").results
    assert [(p.name, p.value) for p in result.extra_params] == [("crm", "42")]
    assert open_campaign(rt, "no-such-campaign").state == "unknown"


@pytest.mark.parametrize("again, state", [({"nps": ["3"], "email": ["new@example.com"]}, "thanks"),
                                          ({"nps": ["9"], "email": ["new@example.com"]}, "answered")])
def test_an_open_link_form_sent_again_records_nothing_more(rt, admin, again, state):
    created, _ = make_link(rt, admin)
    public_id = created.open_url.rsplit("/", 1)[1]
    answer_campaign(rt, public_id, {"nps": ["3"], "email": ["New@Example.com"]}, {}, "form-1")
    assert answer_campaign(rt, public_id, again, {}, "form-1").view.state == state
    assert answer_campaign(rt, public_id, again, {}, "form-2").view.state == "thanks"
    exported = call(rt, admin, "ExportResponses", campaign_id=created.campaign_id).records
    assert [r.nps_score for r in exported] == [3, int(again["nps"][0])]


def test_captured_parameters_keep_valid_names_first_values_and_at_most_fifty():
    query = {"utm": ["a", "b"], "bad name": ["x"], "long": ["y" * 1001],
             **{f"p{i}": [str(i)] for i in range(60)}}
    kept = capture_params(query)
    assert kept["utm"] == "a" and "bad name" not in kept and "long" not in kept
    assert len(kept) == 50


def test_an_open_link_form_submitted_concurrently_is_recorded_once(rt, admin, monkeypatch):
    from service.storage.repositories.responses import ResponseRepository
    created, _ = make_link(rt, admin)
    public_id = created.open_url.rsplit("/", 1)[1]
    answer_campaign(rt, public_id, {"nps": ["3"]}, {}, "form-1")
    looked_up = ResponseRepository.by_submission
    calls = []

    def unseen_at_first(self, account_id, campaign_id, key):
        # the other submit committed between this one's look-up and its insert
        calls.append(key)
        return None if len(calls) == 1 else looked_up(self, account_id, campaign_id, key)

    monkeypatch.setattr(ResponseRepository, "by_submission", unseen_at_first)
    assert answer_campaign(rt, public_id, {"nps": ["3"]}, {}, "form-1").view.state == "thanks"
    assert len(call(rt, admin, "ExportResponses", campaign_id=created.campaign_id).records) == 1
