"""The respondent's survey page over HTTP (WebTest on the whole application)."""
from __future__ import annotations

import logging
import re

import pytest

from service.services import messages as m
from service.web import survey_page
from service.web.survey_page import STYLESHEET
from tests.web.conftest import EVERY_TYPE, GOOD_ANSWERS, csrf_of, make_site

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def fieldset_of(html: str, key: str) -> str:
    return re.search(rf'<fieldset id="q-{key}-group".*?</fieldset>', html, re.S).group(0)


def test_the_page_shows_every_question_type_with_labels_and_required_marks(site):
    html = site.client.get(site.link()).text
    assert '<html lang="en">' in html and "<h1>After your support call</h1>" in html
    assert "It takes less than a minute." in html
    assert html.count("<fieldset") == len(EVERY_TYPE) == html.count("<legend")
    nps = fieldset_of(html, "nps")
    assert re.findall(r'type="radio" name="nps" id="q-nps-(\d+)"', nps) == \
        [str(n) for n in range(11)]
    assert "(required)" in nps and "(required)" not in fieldset_of(html, "speed")
    assert "0 = Not at all likely" in nps
    assert len(re.findall(r'type="radio" name="speed"', html)) == 5
    assert len(re.findall(r'type="checkbox" name="liked"', html)) == 3
    assert '<textarea id="q-comment" name="comment"' in html
    assert '<input type="email" id="q-reply_to" name="reply_to"' in html
    # every control has a name for assistive technology: a <label for> or its legend
    for control_id in re.findall(r'<(?:input|textarea) [^>]*id="([^"]+)"', html):
        assert f'<label for="{control_id}"' in html or \
            f'id="{control_id}" name="{control_id[2:]}" aria-labelledby="{control_id}-legend"' \
            in html, control_id
    assert "<script" not in html and "style=" not in html


def test_a_wide_rating_is_a_number_field_with_its_range(app, key):
    site = make_site(app, key, [m.Question(key="score", type="rating", text="Score?",
                                           min=0, max=100)])
    html = site.client.get(site.link()).text
    assert 'type="number" id="q-score"' in html and 'min="0" max="100"' in html
    assert "A whole number from 0 to 100." in html


def test_opening_the_page_marks_the_invitation_opened_once(site, clock):
    path = site.link()
    site.client.head(path)
    assert site.call("GetInvitation", invitation_id=1).status == "sent"
    site.client.get(path)
    clock.advance(minutes=5)
    site.client.get(path)
    invitation = site.call("GetInvitation", invitation_id=1)
    assert invitation.status == "opened"
    assert [e.event for e in invitation.history].count("opened") == 1


def test_a_valid_submit_records_the_answers_with_embedded_and_extra_parameters(site):
    path = site.link(ticket="T-1")
    thanks = site.submit(path + "?utm_source=sms&bad%20name=x", GOOD_ANSWERS)
    assert "<h1>Thank you!</h1>" in thanks.text
    [record] = site.responses()
    assert {(a.key, a.value) for a in record.answers} == {
        ("nps", "9"), ("speed", "4"), ("channel", "Chat"), ("liked", "Speed"),
        ("liked", "Staff"), ("comment", "Quick & kind <b>thanks</b>"),
        ("reply_to", "ana@example.com")}
    assert [(p.name, p.value) for p in record.params] == [("ticket", "T-1")]
    # what the mailer appended is kept apart, and what breaks the naming rules is dropped
    assert [(p.name, p.value) for p in record.extra_params] == [("utm_source", "sms")]
    assert record.email == "ana@example.com" and record.nps_score == 9
    assert site.call("GetInvitation", invitation_id=1).status == "responded"


def test_the_survey_thank_you_text_is_shown_when_it_has_one(app, key):
    site = make_site(app, key, thank_you="We read every answer.")
    assert "<p>We read every answer.</p>" in site.submit(site.link(), GOOD_ANSWERS).text


def test_refused_answers_keep_what_was_typed_and_each_problem_sits_by_its_question(site):
    path = site.link()
    answers = {"speed": "9", "channel": "Fax", "liked": "Staff", "comment": "x" * 5001,
               "reply_to": "ana(at)example"}
    page = site.submit(path, answers, status=422)
    html = page.text
    assert page.html.title.string.startswith("Error: ")
    summary = re.search(r'<div class="summary" role="alert".*?</div>', html, re.S).group(0)
    assert 'autofocus' in summary
    assert re.findall(r'href="#([^"]+)"', summary) == \
        ["q-nps-0", "q-speed-1", "q-channel-0", "q-comment", "q-reply_to"]
    expected = {"nps": "Please answer this question.",
                "speed": "Choose a number from 1 to 5.",
                "channel": "Choose one of the options.",
                "comment": "Shorten your answer to 5000 characters or fewer.",
                "reply_to": "Enter an email address like name@example.com."}
    for key, message in expected.items():
        fieldset = fieldset_of(html, key)
        assert f'<p class="error" id="q-{key}-error">' in fieldset and message in fieldset
        assert f"q-{key}-error" in re.search(r"<fieldset[^>]*>", fieldset).group(0)
    assert "error" not in fieldset_of(html, "liked")
    # the answers are still there to correct
    assert 'value="Staff" checked' in html and "checked" not in fieldset_of(html, "nps")
    assert 'value="ana(at)example"' in html and "x" * 5001 in html
    assert 'aria-invalid="true"' in fieldset_of(html, "reply_to")
    assert site.responses() == []
    # corrected, it goes through
    fixed = site.client.post(path, {"_csrf": csrf_of(html), **GOOD_ANSWERS})
    assert "Thank you!" in fixed.text and len(site.responses()) == 1


def test_an_empty_form_asks_for_at_least_one_answer(app, key):
    site = make_site(app, key, [m.Question(key="comment", type="text", text="Say?")])
    page = site.submit(site.link(), {}, status=422)
    assert "Please answer at least one question." in page.text
    assert site.responses() == []


def test_a_second_submit_never_creates_a_second_response(site):
    path = site.link()
    page = site.client.get(path)
    first = site.client.post(path, {"_csrf": csrf_of(page.text), **GOOD_ANSWERS})
    # a double click, or a reload of the thank-you page, sends the same answers again
    again = site.client.post(path, {"_csrf": csrf_of(page.text), **GOOD_ANSWERS})
    assert "Thank you!" in first.text and "Thank you!" in again.text
    other = site.client.post(path, {"_csrf": csrf_of(page.text), **GOOD_ANSWERS, "nps": "2"})
    assert "You have already answered" in other.text
    assert "You have already answered" in site.client.get(path).text
    [record] = site.responses()
    assert record.nps_score == 9


@pytest.mark.parametrize("state, status, heading", [
    ("expired", 410, "This link has expired"),
    ("paused", 409, "This survey is paused"),
    ("closed", 410, "This survey is closed"),
    ("unsubscribed", 410, "You have unsubscribed"),
])
def test_each_state_has_its_own_page_and_takes_no_answers(site, clock, state, status, heading):
    path = site.link()
    csrf = csrf_of(site.client.get(path).text)
    if state == "expired":
        clock.advance(days=31)
    elif state == "unsubscribed":
        site.client.post(path.replace("/s/", "/u/"))
    else:
        site.call("UpdateCampaign", campaign_id=site.campaign_id, status=state)
    page = site.client.get(path, status=status)
    assert f"<h1>{heading}</h1>" in page.text and "<form" not in page.text
    assert '<p class="context">After your support call</p>' in page.text
    posted = site.client.post(path, {"_csrf": csrf, **GOOD_ANSWERS}, status=status)
    assert heading in posted.text
    assert site.responses() == []


def test_unknown_and_tampered_tokens_get_one_404_that_reveals_nothing(site):
    token = site.link().removeprefix("/s/")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    bodies = set()
    for path in (f"/s/{flipped}", "/s/" + "A" * 43, "/s/short", f"/s/{token}x",
                 f"/s/{token}/more", "/o/nope", "/o/" + "x" * 200):
        page = site.client.get(path, status=404)
        assert "<h1>Page not found</h1>" in page.text and flipped not in page.text
        bodies.add(page.body)
        site.client.post(path, {"nps": "9"}, status=404)
    assert len(bodies) == 1
    assert site.responses() == []


@pytest.mark.parametrize("csrf", ["", "garbage", "1795000000.AAAAAAAAAAAAAAAAAAAAAA", "other"])
def test_a_submit_without_our_csrf_token_records_nothing_and_keeps_the_answers(site, csrf):
    path = site.link()
    if csrf == "other":  # genuine, but issued for another link
        csrf = csrf_of(site.client.get(site.link("bo@example.com")).text)
    page = site.client.post(path, {"_csrf": csrf, **GOOD_ANSWERS}, status=403)
    assert "For your security, please check your answers and send them again." in page.text
    assert 'value="Chat" checked' in page.text
    assert site.responses() == []
    # the page carries a fresh token that works
    assert "Thank you!" in site.client.post(path, {"_csrf": csrf_of(page.text),
                                                   **GOOD_ANSWERS}).text


def test_a_form_left_open_for_more_than_a_day_must_be_sent_again(site, clock):
    path = site.link()
    csrf = csrf_of(site.client.get(path).text)
    clock.advance(hours=25)
    site.client.post(path, {"_csrf": csrf, **GOOD_ANSWERS}, status=403)
    assert site.responses() == []


def page_kinds(site, clock):
    path = site.link()
    yield "open", site.client.get(path)
    yield "refused", site.submit(path, {"nps": "11"}, status=422)
    yield "csrf", site.client.post(path, {"nps": "1"}, status=403)
    yield "thanks", site.submit(path, GOOD_ANSWERS)
    yield "answered", site.client.get(path)
    yield "unknown", site.client.get("/s/nope", status=404)
    yield "open link", site.client.get(site.open_path)
    yield "not allowed", site.client.put(path, status=405)


def test_every_page_carries_the_security_headers(site, clock):
    for kind, page in page_kinds(site, clock):
        headers = page.headers
        assert headers["Content-Security-Policy"] == CSP, kind
        assert headers["X-Frame-Options"] == "DENY", kind
        assert headers["Referrer-Policy"] == "no-referrer", kind
        assert headers["X-Content-Type-Options"] == "nosniff", kind
        assert headers["Cache-Control"] == "no-store", kind
        assert headers["Content-Type"] == "text/html; charset=utf-8", kind


def test_the_stylesheet_is_served_once_for_a_year_under_a_versioned_address(site):
    html = site.client.get(site.link()).text
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', html).group(1)
    assert re.fullmatch(r"/static/feedloop\.css\?v=[0-9a-f]{10}", href)
    css = site.client.get(href)
    assert css.content_type == "text/css" and css.body == STYLESHEET
    assert "immutable" in css.headers["Cache-Control"]
    site.client.get("/static/other.css", status=404)


def test_the_page_is_small(site):
    html = site.client.get(site.link()).body
    assert len(html) + len(STYLESHEET) < 12 * 1024


@pytest.mark.parametrize("language, send, required", [
    ("en", "Send", "(required)"), ("es", "Enviar", "(obligatoria)"),
    ("sv", "Skicka", "(obligatorisk)"), ("fr", "Envoyer", "(obligatoire)"),
    ("de", "Senden", "(Pflichtfrage)"), ("cs", "Odeslat", "(povinné)")])
def test_the_page_speaks_the_survey_language(app, key, language, send, required):
    site = make_site(app, key, language=language)
    page = site.client.get(site.link())
    assert f'<html lang="{language}">' in page.text
    assert page.headers["Content-Language"] == language
    assert f"<button type=\"submit\">{send}</button>" in page.text and required in page.text


def test_the_browser_language_wins_when_the_survey_allows_it(app, key):
    site = make_site(app, key, language="sv")
    page = site.client.get(site.link(), headers={"Accept-Language": "de-CH, de;q=0.9, sv;q=0.5"})
    assert '<html lang="de">' in page.text and ">Senden</button>" in page.text
    # the survey's own texts keep their language
    assert '<h1 lang="sv">After your support call</h1>' in page.text
    closed = make_site(app, key, language="sv", allow_language_override=False)
    page = closed.client.get(closed.link(), headers={"Accept-Language": "de"})
    assert '<html lang="sv">' in page.text and ">Skicka</button>" in page.text


def test_a_browser_language_we_do_not_have_falls_back_to_the_survey_language(app, key):
    site = make_site(app, key, language="fr")
    page = site.client.get(site.link(), headers={"Accept-Language": "ja, zh;q=0.8"})
    assert '<html lang="fr">' in page.text


def test_an_unknown_link_answers_in_the_browser_language(site):
    page = site.client.get("/s/nope", headers={"Accept-Language": "cs"}, status=404)
    assert '<html lang="cs">' in page.text and "Stránka nenalezena" in page.text


def test_the_open_link_captures_parameters_and_identifies_the_contact_by_email(site):
    path = site.open_path + "?smclientid=C-42"
    assert "<form" in site.client.get(path).text
    thanks = site.submit(path, {**GOOD_ANSWERS, "reply_to": " Bo@Example.com "})
    assert "Thank you!" in thanks.text
    [record] = site.responses()
    assert record.invitation_id is None and record.email == "bo@example.com"
    assert [(p.name, p.value) for p in record.extra_params] == [("smclientid", "C-42")]
    assert record.params == []
    results = site.call("GetContactResults", email="bo@example.com").results
    assert [r.response_id for r in results] == [record.response_id]


def test_an_open_link_without_an_email_question_records_anonymous_answers(app, key):
    site = make_site(app, key, [m.Question(key="nps", type="nps", text="?", required=True)])
    site.submit(site.open_path, {"nps": "3"})
    site.submit(site.open_path, {"nps": "10"})
    records = site.responses()
    assert [(r.email, r.nps_score) for r in records] == [(None, 3), (None, 10)]


def test_an_open_link_of_a_paused_campaign_takes_no_answers(site):
    csrf = csrf_of(site.client.get(site.open_path).text)
    site.call("UpdateCampaign", campaign_id=site.campaign_id, status="paused")
    page = site.client.post(site.open_path, {"_csrf": csrf, **GOOD_ANSWERS}, status=409)
    assert "This survey is paused" in page.text and site.responses() == []


def test_an_unexpected_failure_is_a_friendly_page_and_a_log_line_without_the_link(
        site, monkeypatch, caplog):
    path = site.link()
    token = path.removeprefix("/s/")

    email = "ana" + "@example.com"  # not in the source: the log shows source lines

    def broken(rt, token, mark_opened=True):
        raise RuntimeError(f"database said no about {token} and {email}")

    monkeypatch.setattr(survey_page.respondents, "open_invitation", broken)
    with caplog.at_level(logging.ERROR, logger="feedloop.web"):
        page = site.client.get(path, headers={"Accept-Language": "es"}, status=500)
    assert "<h1>Algo ha salido mal</h1>" in page.text and token not in page.text
    assert "survey page failed: RuntimeError" in caplog.text
    assert token not in caplog.text and email not in caplog.text
    assert page.headers["Content-Security-Policy"] == CSP


def test_an_oversized_form_is_refused_with_a_page(site):
    path = site.link()
    page = site.client.post(path, {"comment": "x" * (1024 * 1024 + 1)}, status=413)
    assert "Your answers are too long" in page.text and site.responses() == []


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                   for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("foreground, background, needed", [
    ("#1a1a1a", "#ffffff", 4.5),   # text
    ("#545454", "#ffffff", 4.5),   # hints, intro, scale ends
    ("#b3261e", "#ffffff", 4.5),   # errors
    ("#1f4fbf", "#ffffff", 4.5),   # links
    ("#ffffff", "#1f4fbf", 4.5),   # the button, a chosen scale point
    ("#ffffff", "#183f99", 4.5),   # the button under the pointer
    ("#1a1a1a", "#e8eefb", 4.5),   # a chosen option
    ("#767676", "#ffffff", 3.0),   # borders of fields and scale points
    ("#1a1a1a", "#eef0f3", 3.0),   # the focus ring on the page background
])
def test_the_stylesheet_colours_are_readable(foreground, background, needed):
    css = STYLESHEET.decode()
    assert foreground in css + "#ffffff" and background in css + "#ffffff"
    assert contrast(foreground, background) >= needed
