"""An open link (/o/...) records one response per form: double clicks, reloads, second tabs."""
from __future__ import annotations

from webtest import TestApp

from tests.web.conftest import csrf_of


def form_fields(page) -> dict[str, str]:
    return {"_csrf": csrf_of(page.text), "_once": page.form["_once"].value}


def test_a_double_click_or_a_reload_of_the_open_form_records_one_response(site):
    page = site.client.get(site.open_path)
    fields = {**form_fields(page), "nps": "9"}
    first = site.client.post(site.open_path, fields)
    again = site.client.post(site.open_path, fields)       # double click / reload (re-POST)
    assert first.status_int == again.status_int == 200
    assert "Thank you" in again.text
    changed = site.client.post(site.open_path, {**fields, "nps": "2"})
    assert "already" in changed.text.lower()
    assert [r.nps_score for r in site.responses()] == [9]


def test_a_second_tab_gets_the_same_form_and_the_next_person_a_new_one(site):
    tab1 = site.client.get(site.open_path)
    tab2 = site.client.get(site.open_path)              # the browser sends the link's cookie
    assert tab1.form["_once"].value == tab2.form["_once"].value
    site.client.post(site.open_path, {**form_fields(tab1), "nps": "9"})
    site.client.post(site.open_path, {**form_fields(tab2), "nps": "9"})
    assert len(site.responses()) == 1
    # answered: the cookie is gone, so a kiosk's next visitor answers a new form
    nxt = site.client.get(site.open_path)
    assert nxt.form["_once"].value != tab1.form["_once"].value
    site.client.post(site.open_path, {**form_fields(nxt), "nps": "4"})
    assert [r.nps_score for r in site.responses()] == [9, 4]


def test_a_made_up_form_nonce_is_refused_like_a_forged_form(site):
    page = site.client.get(site.open_path)
    stranger = TestApp(site.app)
    answer = stranger.post(site.open_path, {"_csrf": csrf_of(page.text),
                                            "_once": "A" * 22, "nps": "9"}, status=403)
    assert answer.form["_once"].value == "A" * 22
    assert site.responses() == []
