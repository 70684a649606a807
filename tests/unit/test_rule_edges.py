"""Domain and helper rules at their edges: webhook signatures, CSRF token ages, backoff,
mails, reminders, cursors and tokens."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone

import pytest

from service.domain.cursors import parse_cursor
from service.domain.crm import contact_update, slug
from service.domain.distribution import Campaign
from service.domain.errors import (DomainError, InvalidEmail, Quarantined, ValidationError,
                                   all_error_classes)
from service.domain.mail import compose, message_key, notification, render
from service.domain.surveys import AnswerErrors, Question, Survey
from service.domain.tokens import make_token, split_token
from service.domain.webhooks import headers, new_secret, signature
from service.services.outbox import retry_delay
from service.web.csrf import check_csrf, issue_csrf

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
KEY = b"test-secret-key"


def test_signature_matches_the_standard_webhooks_example():
    # The example of the Standard Webhooks specification, verified by its reference libraries.
    assert signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                     1614265330, b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_secret_without_the_whsec_prefix_signs_with_its_utf8_bytes():
    expected = hmac.new("clé".encode("utf-8"), b"m1.7.{}", hashlib.sha256).digest()
    assert signature("clé", "m1", 7, b"{}") == "v1," + base64.b64encode(expected).decode()


def test_webhook_headers_are_exactly_the_standard_ones():
    assert headers("s", "m1", 7, b"{}") == {
        "webhook-id": "m1", "webhook-timestamp": "7",
        "webhook-signature": signature("s", "m1", 7, b"{}"), "Content-Type": "application/json"}


def test_new_secrets_are_whsec_and_256_random_bits():
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


@pytest.mark.parametrize("age, valid", [
    (timedelta(0), True), (timedelta(hours=24), True), (timedelta(hours=24, seconds=1), False),
    (-timedelta(minutes=5), True), (-timedelta(minutes=5, seconds=1), False)])
def test_csrf_token_is_valid_for_a_day_and_five_minutes_of_clock_skew(age, valid):
    token = issue_csrf(KEY, "link", NOW)
    assert check_csrf(KEY, "link", token, NOW + age) is valid


@pytest.mark.parametrize("value", [
    None, "", "abc.def", "99999999999.x", "999999999999.x", "1" * 40 + ".x"])
def test_malformed_or_absurd_csrf_tokens_are_refused_without_error(value):
    assert check_csrf(KEY, "link", value, NOW) is False


def test_csrf_token_is_bound_to_its_subject_and_key():
    token = issue_csrf(KEY, "link", NOW)
    assert check_csrf(KEY, "other link", token, NOW) is False
    assert check_csrf(b"another key", "link", token, NOW) is False


class FixedJitter:
    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.bounds: tuple[float, float] | None = None

    def uniform(self, low: float, high: float) -> float:
        self.bounds = (low, high)
        return self.factor


@pytest.mark.parametrize("attempts, minutes", [(1, 1), (2, 2), (3, 4), (9, 256), (10, 360),
                                               (16, 360)])
def test_retry_delay_doubles_from_a_minute_to_a_six_hour_cap(attempts, minutes):
    assert retry_delay(attempts, FixedJitter(1.0)) == timedelta(minutes=minutes)


def test_retry_delay_jitters_by_twenty_percent_either_way():
    jitter = FixedJitter(1.2)
    assert retry_delay(2, jitter) == timedelta(minutes=2.4)
    assert jitter.bounds == (0.8, 1.2)


def test_every_domain_error_is_found_down_to_grandchildren():
    found = all_error_classes()
    assert {ValidationError, InvalidEmail, Quarantined} <= set(found)
    assert DomainError not in found and len(found) == len(set(found))


def test_validation_error_keeps_its_field_and_details():
    error = ValidationError("bad", field="email", row=3)
    assert (error.message, error.field, error.details) == ("bad", "email", {"row": 3})


VALUES = {"survey_title": "Support & you", "url": "http://x/s/T",
          "unsubscribe_url": "http://x/u/T?a=1&b=2"}


def test_render_leaves_unknown_names_empty_and_escapes_only_in_html():
    assert render("{{ survey_title }}|{{nope}}", VALUES) == "Support & you|"
    assert render("{{survey_title}}|{{nope}}", VALUES, for_html=True) == "Support &amp; you|"


def test_mail_in_an_unknown_language_falls_back_to_english():
    mail = compose("invitation", {}, "xx", "a@example.com", VALUES)
    assert mail.subject == "Support & you: we would like your opinion"


def test_html_mail_ends_with_an_escaped_unsubscribe_link_and_one_click_headers():
    mail = compose("reminder", {"reminder_subject": "  Hi\n {{survey_title}} ",
                                "reminder_html": "<p>{{survey_title}}</p>"},
                   "fr", "a@example.com", VALUES)
    assert mail.subject == "Hi Support & you"
    assert mail.html == ('<p>Support &amp; you</p><p style="font-size:small">'
                         '<a href="http://x/u/T?a=1&amp;b=2">'
                         "Vous ne souhaitez plus ces enquêtes ? Se désinscrire </a></p>")
    assert mail.text.endswith("\n\n--\nVous ne souhaitez plus ces enquêtes ? Se désinscrire : "
                              "http://x/u/T?a=1&b=2\n")
    assert mail.headers == {"List-Unsubscribe": "<http://x/u/T?a=1&b=2>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert compose("reminder", {}, "fr", "a@example.com", VALUES).html is None


def test_a_message_id_key_is_128_bits_of_hex_stable_per_mail_and_secret():
    key = message_key(KEY, "invitation:7:0")
    assert re.fullmatch("[0-9a-f]{32}", key)
    assert key == message_key(KEY, "invitation:7:0")
    assert key not in {message_key(KEY, "invitation:7:1"), message_key(b"other", "invitation:7:0")}


def test_notification_names_who_answered_what_in_survey_order():
    survey = Survey(title="t", language="en", questions=(
        Question("nps", "nps", "How likely?"), Question("why", "multi", "Why?",
                                                        choices=("a", "b"))))
    subject, text = notification("Support", survey, {"why": ["a", "b"], "nps": 9},
                                 "a@example.com", "C1", 9, "promoter", "http://x/d/1")
    assert subject == "[Support] NPS 9 (promoter) from a@example.com"
    assert text == ("a@example.com (CRM id C1) answered 'Support': NPS 9 (promoter).\n\n"
                    "- How likely?\n  9\n- Why?\n  a, b\n\n"
                    "Results of this campaign: http://x/d/1\n")
    subject, text = notification("S" * 300, survey, {}, None, None, None, None, "l")
    assert len(subject) == 200 and subject.endswith("SSS")
    assert text.startswith(f"an anonymous respondent answered '{'S' * 300}': a new response.\n")


@pytest.mark.parametrize("settings, sent, due_in_days", [
    ({"reminder_days": 3}, 0, 3), ({"reminder_days": 3}, 1, None),
    ({"reminder_days": 2, "max_reminders": 2}, 1, 2),
    ({"reminder_days": 2, "max_reminders": 2}, 2, None),
    ({"reminder_days": 2, "delivery": "crm"}, 0, None), ({"max_reminders": 2}, 0, None)])
def test_reminders_fall_due_reminder_days_after_a_send_up_to_the_limit(settings, sent,
                                                                      due_in_days):
    campaign = Campaign(survey_id=1, name="x", **{"delivery": "email", **settings})
    expected = None if due_in_days is None else NOW + timedelta(days=due_in_days)
    assert campaign.next_reminder(NOW, sent) == expected


def test_a_bad_cursor_is_refused_naming_its_field():
    with pytest.raises(ValidationError) as refused:
        parse_cursor("12a", field="since")
    assert (refused.value.message, refused.value.field) == (
        "'12a' is not a cursor: pass the next_cursor of a previous export, or nothing to "
        "start from the beginning.", "since")


@pytest.mark.parametrize("token", [None, 12345, b"A" * 43])
def test_a_token_that_is_not_text_is_not_a_token(token):
    assert split_token(token) is None


@pytest.mark.parametrize("count, message", [
    (1, "q0 is wrong"), (2, "q0 is wrong (and 1 more problem)"),
    (3, "q0 is wrong (and 2 more problems)")])
def test_answer_errors_name_the_first_problem_and_count_the_others(count, message):
    problems = {f"q{i}": ValidationError(f"q{i} is wrong") for i in range(count)}
    error = AnswerErrors(problems)
    assert (error.message, error.field, error.problems) == (message, "q0", problems)


def test_a_survey_finds_its_questions_by_key():
    survey = Survey(title="t", language="en", questions=(Question("nps", "nps", "?"),))
    assert survey.question("nps") is survey.questions[0] and survey.question("nope") is None


def test_slugs_fold_letters_that_have_no_decomposition():
    assert slug("  Størrelse,  Łódź & Đak: Straße?! ") == "storrelse-lodz-dak-strasse"


def test_crm_update_skips_the_email_question_and_truncates_long_values_only():
    survey = Survey(title="t", language="en", questions=(
        Question("mail", "email", "Your email?"), Question("why", "multi", "Why?",
                                                            choices=("a", "b")),
        Question("long", "text", "Long"), Question("edge", "text", "Edge")))
    update = contact_update(survey, {"mail": "x@example.com", "why": ["a", "b"],
                                     "long": "l" * 256, "edge": "e" * 255},
                            None, None, {}, "fb-", "", "c@example.com", "")
    assert update.fields == {"fb-why": "a, b", "fb-long": "l" * 255, "fb-edge": "e" * 255}
    assert (update.email, update.truncated, update.tags) == ("x@example.com", ["fb-long"], [])


@pytest.mark.parametrize("expires_at, params, token", [
    (None, {"café": "é"}, "AAECAwQFBgcICQoLDA0ODwQUy2h00cUm3oNQWvBSOsw"),
    (NOW, {}, "AAECAwQFBgcICQoLDA0OD248KukvQdJTA-un4EAR67A")])
def test_tracking_tokens_stay_the_same_across_releases(expires_at, params, token):
    # Links already in mailboxes must keep working: the token format is frozen (these
    # are the tokens issued before tokens named their account).
    assert make_token(KEY, bytes(range(16)), 7, expires_at, params) == token


@pytest.mark.parametrize("expires_at, params, token", [
    (None, {"café": "é"}, "AAAAAAAAAAMAAQIDBAUGBwgJCgsMDQ4PJofedolY81hH5RoEZW07Ng"),
    (NOW, {}, "AAAAAAAAAAMAAQIDBAUGBwgJCgsMDQ4PvnbdX3j8qnsHbYHWxM2_BQ")])
def test_tracking_tokens_naming_their_account_stay_the_same_across_releases(expires_at, params,
                                                                             token):
    assert make_token(KEY, bytes(range(16)), 7, expires_at, params, account_id=3) == token


def test_csrf_tokens_stay_the_same_across_releases():
    # A form served before a deploy is posted after it.
    assert issue_csrf(KEY, "link", NOW) == "1793610000.GRnPE9L9j2oHZJVmgw1teA"
