"""Survey versions: UpdateSurvey, stable keys, responses keeping their version."""
from __future__ import annotations

import csv
import io
import json

import pytest

from service.domain.errors import NotFound, ValidationError
from service.services import messages as m
from service.services.dumps import dump_chunks, dump_rows, plan_dump
from service.services.respondents import answer_invitation
from tests.conftest import call
from tests.support.statements import statements

FIRST = [m.Question(key="nps", type="nps", text="Recommend us?", required=True),
         m.Question(key="speed", type="rating", text="Speed?", min=1, max=5),
         m.Question(key="comment", type="text", text="Anything else?")]


@pytest.fixture
def survey(rt, admin):
    survey_id = call(rt, admin, "CreateSurvey", title="v1", language="en",
                     questions=FIRST).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c").campaign_id
    return survey_id, campaign_id


def answer(rt, admin, campaign_id, email, **answers) -> int:
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=email)
    return call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
                answers=[m.Answer(k, v) for k, v in answers.items()]).response_id


def test_an_update_makes_the_next_version_and_the_earlier_one_stays_readable(rt, admin, survey):
    survey_id, _ = survey
    updated = call(rt, admin, "UpdateSurvey", survey_id=survey_id, title="v2", language="de",
                   intro="Hallo", thank_you="Danke", questions=[
                       m.Question(key="channel", type="single", text="Wie?",
                                  choices=["Telefon", "Mail"]),
                       FIRST[0]])
    assert (updated.version, updated.title, updated.language, updated.intro,
            updated.thank_you) == (2, "v2", "de", "Hallo", "Danke")
    assert [q.key for q in updated.questions] == ["channel", "nps"]
    assert call(rt, admin, "GetSurvey", survey_id=survey_id) == updated
    first = call(rt, admin, "GetSurvey", survey_id=survey_id, version=1)
    assert (first.version, first.title, [q.key for q in first.questions]) == (
        1, "v1", ["nps", "speed", "comment"])
    texts_only = call(rt, admin, "UpdateSurvey", survey_id=survey_id, title="v3")
    assert (texts_only.version, [q.key for q in texts_only.questions]) == (3, ["channel", "nps"])
    with pytest.raises(NotFound, match=f"No survey {survey_id} version 9 in your account."):
        call(rt, admin, "GetSurvey", survey_id=survey_id, version=9)
    with pytest.raises(NotFound):
        call(rt, admin, "UpdateSurvey", survey_id=987654, title="x")
    audit = [e.operation for e in call(rt, admin, "ListAuditLog").entries]
    assert audit.count("UpdateSurvey") == 2


def test_a_question_key_keeps_its_type_even_after_it_was_removed(rt, admin, survey):
    survey_id, _ = survey
    call(rt, admin, "UpdateSurvey", survey_id=survey_id, questions=[FIRST[0]])
    with pytest.raises(ValidationError) as refused:
        call(rt, admin, "UpdateSurvey", survey_id=survey_id, questions=[
            FIRST[0], m.Question(key="speed", type="text", text="Speed?")])
    assert refused.value.message == ("Question key 'speed' was a rating question in version 1; "
                                     "a key keeps its type (give this question a new key).")
    assert refused.value.field == "questions[1].type"
    back = call(rt, admin, "UpdateSurvey", survey_id=survey_id, questions=FIRST)
    assert back.version == 3


def test_each_response_keeps_its_version_and_reports_span_versions(rt, admin, survey):
    survey_id, campaign_id = survey
    old = answer(rt, admin, campaign_id, "a@example.com", nps="10", speed="4", comment="quick")
    call(rt, admin, "UpdateSurvey", survey_id=survey_id, questions=[
        FIRST[0], m.Question(key="channel", type="single", text="How?", choices=["phone", "mail"])])
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="b@example.com")
    submitted = answer_invitation(rt, link.url.rsplit("/", 1)[1],
                                  {"nps": ["0"], "channel": ["mail"]}, {})
    assert submitted.view.state == "thanks" and submitted.view.survey.version == 2
    records = call(rt, admin, "ExportResponses", campaign_id=campaign_id).records
    assert [(r.survey_version, [(a.key, a.value) for a in r.answers]) for r in records] == [
        (1, [("nps", "10"), ("speed", "4"), ("comment", "quick")]),
        (2, [("nps", "0"), ("channel", "mail")])]
    metrics = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id)
    assert (metrics.responded, metrics.nps) == (2, 0.0)
    plan = plan_dump(rt, admin, campaign_id)
    rows = list(csv.DictReader(io.StringIO(
        b"".join(dump_chunks(plan, dump_rows(rt, plan, "csv"), "csv")).decode(), newline="")))
    assert [c for c in rows[0] if c.startswith("q.")] == ["q.nps", "q.channel", "q.speed",
                                                          "q.comment"]
    assert [(r["q.speed"], r["q.channel"]) for r in rows] == [("4", ""), ("", "mail")]
    # a correction is held to the version the response answered
    corrected = call(rt, admin, "CorrectResponse", response_id=old,
                     answers=[m.Answer("speed", "5")])
    assert [(a.key, a.value) for a in corrected.answers] == [
        ("nps", "10"), ("speed", "5"), ("comment", "quick")]


def test_contact_results_show_every_versions_answers_in_the_newest_question_order(rt, admin,
                                                                                  survey):
    survey_id, campaign_id = survey
    answer(rt, admin, campaign_id, "v@example.com", nps="9", speed="4", comment="fine")
    call(rt, admin, "UpdateSurvey", survey_id=survey_id, questions=[FIRST[2], FIRST[0]])
    other_survey = call(rt, admin, "CreateSurvey", title="single version", language="en",
                        questions=[FIRST[2]]).survey_id
    other = call(rt, admin, "CreateCampaign", survey_id=other_survey, name="d").campaign_id
    answer(rt, admin, other, "v@example.com", comment="second")
    results = {r.campaign_id: [(a.key, a.value) for a in r.answers]
               for r in call(rt, admin, "GetContactResults", email="v@example.com").results}
    # version 2's questions in its order first, then those only version 1 had
    assert results == {campaign_id: [("comment", "fine"), ("nps", "9"), ("speed", "4")],
                       other: [("comment", "second")]}


def test_an_earlier_versions_answers_are_dumped_and_exported_in_the_newest_question_order(
        rt, admin, survey):
    survey_id, campaign_id = survey
    answer(rt, admin, campaign_id, "a@example.com", nps="10", speed="4", comment="quick")
    call(rt, admin, "UpdateSurvey", survey_id=survey_id, questions=FIRST[::-1])
    plan = plan_dump(rt, admin, campaign_id)
    [line] = b"".join(dump_chunks(plan, dump_rows(rt, plan, "jsonl"), "jsonl")).splitlines()
    assert list(json.loads(line)["answers"]) == ["comment", "speed", "nps"]
    [record] = call(rt, admin, "ExportResponses", campaign_id=campaign_id).records
    assert [a.key for a in record.answers] == ["comment", "speed", "nps"]


def test_contact_results_read_responses_and_surveys_in_one_statement(rt, admin, survey, engine):
    """The contact, then its latest responses with their campaigns' surveys; a survey
    with earlier versions adds the statement that reads them, a first version none."""
    survey_id, campaign_id = survey
    answer(rt, admin, campaign_id, "v@example.com", nps="9", speed="4", comment="fine")
    other_survey = call(rt, admin, "CreateSurvey", title="single version", language="en",
                        questions=[FIRST[2]]).survey_id
    other = call(rt, admin, "CreateCampaign", survey_id=other_survey, name="d").campaign_id
    answer(rt, admin, other, "v@example.com", comment="second")
    with statements(engine) as reads_of_first_versions:
        first = call(rt, admin, "GetContactResults", email="v@example.com")
    call(rt, admin, "UpdateSurvey", survey_id=survey_id, questions=[FIRST[2], FIRST[0]])
    with statements(engine) as seen:
        call(rt, admin, "GetContactResults", email="v@example.com")
    assert len(first.results) == 2
    contact, latest = [s for s in reads_of_first_versions if s.startswith("SELECT")]
    assert "FROM contacts" in contact and "JOIN surveys" in latest
    assert len([s for s in seen if s.startswith("SELECT")]) == 3   # and the earlier versions
