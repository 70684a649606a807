"""The survey page is rendered once per process and kept; each request fills in its own parts.
An Accept-Language header is parsed once too."""
from __future__ import annotations

import re

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from service.domain.surveys import Question, Survey
from service.web import survey_page
from tests.web.conftest import GOOD_ANSWERS, csrf_of

SURVEY = Survey(title='Fish & "chips" <b>', language="de", intro="It's <i>quick</i>",
                questions=(Question(key="nps", type="nps", text="Score?", required=True),
                           Question(key="pick", type="single", text="Which?",
                                    choices=("a<b", "c&d")),
                           Question(key="note", type="text", text="Anything?")))
#: Slot values with every character HTML escapes.
TRICKY = {"action": "/s/t?x=<a>&y=\"b\"&z='c'", "csrf": "1.<&>", "once": "n\"'"}


def action_of(html: str) -> str:
    return re.search(r'<form method="post" action="([^"]+)"', html).group(1)


def page(template: str, accept_language: str = "", keep: bool = True, **values) -> str:
    request = Request(EnvironBuilder(headers={"Accept-Language": accept_language}).get_environ())
    return survey_page._page(request, template, 200, SURVEY, keep=keep,
                             **values).get_data(as_text=True)


@pytest.mark.parametrize("template, accept_language, values", [
    ("survey.html", "", dict(slots=TRICKY, answers={}, problems={}, picked=False)),
    ("survey.html", "fr", dict(slots={"action": "/s/t", "csrf": "1.x"},
                               answers={"nps": ["7"]}, problems={}, picked=True)),
    ("survey.html", "es", dict(slots=TRICKY, answers={"note": ["<script>"]},
                               problems={"nps": "required", "": "csrf"}, picked=False)),
    ("survey_state.html", "", dict(state="thanks")),
    ("survey_state.html", "sv", dict(state="expired")),
])
def test_a_kept_page_is_the_page_rendered_for_the_request_alone(template, accept_language,
                                                                values):
    kept = page(template, accept_language, keep=True, **values)
    assert kept == page(template, accept_language, keep=True, **values)  # now from the layout
    assert kept == page(template, accept_language, keep=False, **values)


def test_each_respondent_gets_the_address_and_token_of_their_own_link(site):
    first, second = site.link("ana@example.com"), site.link("bo@example.com")
    first_page, second_page = site.client.get(first).text, site.client.get(second).text
    assert (action_of(first_page), action_of(second_page)) == (first, second)
    # A token is good for its own link only, as before the page was kept.
    refused = site.client.post(second, {"_csrf": csrf_of(first_page), **GOOD_ANSWERS},
                               status=403)
    assert "please check your answers and send them again" in refused.text
    site.client.post(second, {"_csrf": csrf_of(second_page), **GOOD_ANSWERS}, status=200)
    assert [r.email for r in site.responses()] == ["bo@example.com"]


def test_each_visitor_of_an_open_link_gets_their_own_form_nonce(site):
    nonces = {re.search(r'name="_once" value="([^"]+)"',
                        site.client.__class__(site.app).get(site.open_path).text).group(1)
              for _ in range(3)}
    assert len(nonces) == 3


def test_a_page_showing_what_the_respondent_sent_is_not_kept(site):
    path = site.link()
    csrf = csrf_of(site.client.get(path).text)
    refused = site.client.post(path, {"_csrf": csrf, "nps": "12", "comment": "my own words"},
                               status=422)
    assert "my own words" in refused.text
    kept = [text for first, rest in survey_page._LAYOUTS.kept.values()
            for text in (first, *(after for _, after in rest))]
    assert any("After your support call" in text for text in kept)
    assert not any("my own words" in text for text in kept)


def test_a_survey_changed_since_its_page_was_kept_shows_its_new_texts(site):
    path = site.link()
    site.client.get(path)
    [survey] = site.call("ListSurveys").surveys
    site.call("UpdateSurvey", survey_id=survey.survey_id, title="After your visit")
    html = site.client.get(path).text
    assert "<h1>After your visit</h1>" in html and "After your support call" not in html


def test_the_kept_layouts_are_bounded_in_size(site, monkeypatch):
    path = site.link()
    size = len(site.client.get(path).text)
    layouts = survey_page._Layouts(max_chars=2 * size + 100)
    monkeypatch.setattr(survey_page, "_LAYOUTS", layouts)
    pages = [site.client.get(path, headers={"Accept-Language": language}).text
             for language in ("en", "de", "fr", "en")]
    assert len(layouts.kept) <= 2 and 0 < layouts.chars <= layouts.max_chars
    assert ['<html lang="en">' in html for html in pages] == [True, False, False, True]


def test_a_page_larger_than_all_kept_layouts_may_hold_is_rendered_every_time(site,
                                                                            monkeypatch):
    layouts = survey_page._Layouts(max_chars=100)
    monkeypatch.setattr(survey_page, "_LAYOUTS", layouts)
    path = site.link()
    first, again = site.client.get(path).text, site.client.get(path).text
    assert action_of(first) == action_of(again) == path
    assert layouts.kept == {} and layouts.chars == 0


@pytest.mark.parametrize("header, language", [
    ("de;q=0, fr", "fr"), ("de;q=0", "en"), ("sv;q=0.2, cs;q=0.9", "cs")])
def test_the_browser_languages_are_those_of_its_header_however_often_it_is_seen(
        site, header, language):
    path = site.link()
    for _ in range(2):
        page = site.client.get(path, headers={"Accept-Language": header})
        assert page.headers["Content-Language"] == language
        assert f'<html lang="{language}">' in page.text
