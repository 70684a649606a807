"""Domain rules: emails, NPS categories, survey and answer validation, cursors, quarantine."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from service.domain.cursors import format_cursor, parse_cursor
from service.domain.distribution import Campaign, Invitation, clean_params, quarantine_end
from service.domain.errors import InvalidEmail, ValidationError
from service.domain.surveys import (Contact, Question, Survey, normalize_email, nps_category,
                                    nps_margin)

NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw, expected", [
    ("Ana@Example.com", "ana@example.com"),
    ("  bo.b+tag@sub.example.co.uk ", "bo.b+tag@sub.example.co.uk"),
])
def test_valid_emails_are_normalised(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "ana", "ana@", "@example.com", "ana@example", "a b@example.com",
                                 "ana@exa_mple.com", "ana@-example.com", "x" * 65 + "@example.com",
                                 "ana\x00@example.com"])
def test_invalid_emails_are_refused(raw):
    with pytest.raises(InvalidEmail):
        normalize_email(raw)


@pytest.mark.parametrize("score, category", [
    (None, None), (0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"),
    (9, "promoter"), (10, "promoter")])
def test_nps_category_boundaries(score, category):
    assert nps_category(score) == category


@pytest.mark.parametrize("promoters, detractors, scored, margin", [
    (6, 2, 10, 49.6),     # p = .6, d = .2: 196 * sqrt((.8 - .16) / 10) = 49.58...
    (1, 1, 4, 69.3),      # p = d: the variance is p + d alone
    (30, 50, 200, 8.7),
    (10, 0, 10, 0.0),     # everyone a promoter: no spread
    (0, 0, 0, None),      # nothing scored: no interval
])
def test_the_nps_margin_is_the_95_percent_half_width_in_tenths_of_a_point(
        promoters, detractors, scored, margin):
    assert nps_margin(promoters, detractors, scored) == margin


def test_a_report_survey_takes_questions_only_earlier_versions_had_newest_version_first():
    current = Survey("t", "en", (Question("a", "nps", "How likely?"),), version=3)
    first = Survey("t", "en", (Question("a", "nps", "?"), Question("gone", "text", "Why?"),
                               Question("kept", "text", "First wording")), version=1)
    second = Survey("t", "en", (Question("a", "nps", "?"),
                                Question("kept", "text", "Second wording"),
                                Question("later", "text", "Anything else?")), version=2)
    report = current.with_questions_of([first, second])
    assert [(q.key, q.text) for q in report.questions] == [
        ("a", "How likely?"), ("kept", "Second wording"), ("later", "Anything else?"),
        ("gone", "Why?")]
    assert report.version == 3


def _survey(*questions: Question) -> Survey:
    return Survey(title="t", language="en", questions=questions)


@pytest.mark.parametrize("question, message", [
    (Question("1bad", "text", "x"), "must start with a letter"),
    (Question("q", "slider", "x"), "not one of"),
    (Question("q", "single", "x"), "needs choices"),
    (Question("q", "multi", "x", choices=("a", "a")), "distinct"),
    (Question("q", "text", "x", choices=("a",)), "only single and multi"),
    (Question("q", "rating", "x", min=5, max=5), "min < max"),
    (Question("q", "nps", "x", min=1), "only rating"),
    (Question("q", "text", "  "), "text must not be empty"),
])
def test_ill_formed_questions_are_refused(question, message):
    with pytest.raises(ValidationError, match=message):
        _survey(question).validate()


def test_survey_language_and_duplicate_keys_are_checked():
    with pytest.raises(ValidationError, match="language 'pt'"):
        Survey(title="t", language="pt", questions=(Question("q", "text", "x"),)).validate()
    with pytest.raises(ValidationError, match="used twice"):
        _survey(Question("q", "text", "x"), Question("q", "nps", "y")).validate()


def test_answers_are_typed_per_question():
    survey = _survey(Question("nps", "nps", "x", required=True),
                     Question("stars", "rating", "x", min=1, max=5),
                     Question("pick", "single", "x", choices=("a", "b")),
                     Question("many", "multi", "x", choices=("a", "b", "c")),
                     Question("mail", "email", "x"), Question("free", "text", "x"))
    answers = survey.parse_answers({"nps": ["10"], "stars": ["4"], "pick": ["b"],
                                    "many": ["c", "a"], "mail": ["X@Example.com"],
                                    "free": ["  hi  "]})
    assert answers == {"nps": 10, "stars": 4, "pick": "b", "many": ["a", "c"],
                       "mail": "x@example.com", "free": "hi"}
    assert survey.nps_score(answers) == 10


@pytest.mark.parametrize("values, message", [
    (["x"], "whole number"), (["6"], "from 1 to 5"), (["1", "2"], "single answer")])
def test_rating_answers_are_checked(values, message):
    with pytest.raises(ValidationError, match=message):
        Question("stars", "rating", "x").parse_answer(values)


def test_cursor_round_trip_and_refusal():
    assert parse_cursor(None) == 0 and parse_cursor("") == 0
    assert parse_cursor(format_cursor(42)) == 42
    for bad in ["-1", "abc", "1.5", "9" * 19]:
        with pytest.raises(ValidationError, match="not a cursor"):
            parse_cursor(bad)


def test_quarantine_ends_n_days_after_the_last_invitation():
    assert quarantine_end(None, 30) is None
    assert quarantine_end(NOW, 0) is None
    assert quarantine_end(NOW, 30) == NOW + timedelta(days=30)


@pytest.mark.parametrize("valid_days, expiry", [(30, NOW + timedelta(days=30)), (0, None)])
def test_a_new_link_works_for_the_campaigns_days_or_forever_without_them(valid_days, expiry):
    assert Campaign(survey_id=1, name="x", link_valid_days=valid_days).link_expiry(NOW) == expiry


def test_invitation_expires_at_its_expiry():
    invitation = Invitation(campaign_id=1, contact_id=1, nonce=b"n", params={}, status="sent",
                            created_at=NOW, expires_at=NOW + timedelta(days=1))
    assert invitation.is_open(NOW) and invitation.effective_status(NOW) == "sent"
    later = NOW + timedelta(days=1)
    assert not invitation.is_open(later) and invitation.effective_status(later) == "expired"


@pytest.mark.parametrize("settings, message", [
    ({"delivery": "fax"}, "delivery 'fax'"), ({"quarantine_days": -1}, "from 0"),
    ({"max_reminders": 2}, "needs reminder_days"), ({"name": " "}, "name must not be empty")])
def test_contradictory_campaign_settings_are_refused(settings, message):
    campaign = Campaign(survey_id=1, name="x")
    for key, value in settings.items():
        setattr(campaign, key, value)
    with pytest.raises(ValidationError, match=message):
        campaign.validate()


def test_parameter_names_are_restricted():
    assert clean_params({"ticket.id": "1"}) == {"ticket.id": "1"}
    with pytest.raises(ValidationError, match="Parameter name"):
        clean_params({"bad name": "1"})


def test_a_trigger_replaces_a_contacts_crm_id_when_given_and_lays_attributes_over():
    stored = Contact(email="a@example.com", crm_id="C-1", attributes={"store": "small",
                                                                      "tier": "gold"}, id=7)
    assert stored.updated_by(None, {}) == stored
    assert stored.updated_by("C-1", {"tier": "gold"}) == stored
    assert stored.updated_by("", {"store": "large"}) == Contact(
        email="a@example.com", crm_id="", attributes={"store": "large", "tier": "gold"}, id=7)
    assert stored.attributes == {"store": "small", "tier": "gold"}   # the stored one unchanged
