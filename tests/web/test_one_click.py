"""One-click first answer from the invitation mail: a row of score links, never recorded by a GET."""
from __future__ import annotations

import re

import pytest
from webtest import TestApp

from service.domain.mail import DEFAULT_TEXTS, PICK_PARAM, Scale, compose
from service.domain.surveys import LANGUAGES
from service.services import messages as m
from service.services.delivery import claim_mail
from tests.conftest import call
from tests.web.conftest import EVERY_TYPE, csrf_of, make_site

VALUES = {"url": "https://s.test/s/TOKEN", "unsubscribe_url": "https://s.test/u/TOKEN",
          "survey_title": "T"}
PICKED_NOTE = {
    "en": "Your score from the email is chosen below",
    "es": "Su puntuación del correo está elegida abajo", "sv": "Ditt betyg från e-postmeddelandet",
    "fr": "est choisie ci-dessous", "de": "Ihre Bewertung aus der E-Mail",
    "cs": "Vaše hodnocení z e-mailu"}


def links_of(mail) -> list[str]:
    """Every link a mail scanner would fetch: the HTML's, the text's and the headers'."""
    found = re.findall(r'href="([^"]+)"', mail.html or "")
    found += re.findall(r"https?://\S+", mail.text)
    found += re.findall(r"<(https?://[^>]+)>", mail.headers.get("List-Unsubscribe", ""))
    return [link.replace("&amp;", "&") for link in found]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_html_mail_offers_the_scale_as_links_and_the_text_a_link_to_the_page(language):
    mail = compose("invitation", {}, language, "ana@example.com", VALUES,
                   Scale("How likely?", 0, 10))
    assert re.findall(r'href="([^"]+)"', mail.html)[:11] == [
        f"https://s.test/s/TOKEN?{PICK_PARAM}={n}" for n in range(11)]
    assert DEFAULT_TEXTS[language]["scale_hint"].replace("'", "&#x27;") in mail.html
    assert "<strong>How likely?</strong>" in mail.html
    assert "https://s.test/s/TOKEN\n" in mail.text and PICK_PARAM not in mail.text


def test_a_campaigns_own_html_gets_the_scale_and_a_survey_without_one_no_html():
    mail = compose("reminder", {"reminder_html": "<p>Hi {{survey_title}}</p>"}, "en", "a@b.c",
                   VALUES, Scale("Speed?", 1, 5))
    assert mail.html.startswith("<p>Hi T</p><p><strong>Speed?</strong>")
    assert mail.html.count(f"?{PICK_PARAM}=") == 5
    assert compose("invitation", {}, "en", "a@b.c", VALUES).html is None


def test_html_made_from_the_text_keeps_its_paragraphs_and_lines_and_ends_with_score_buttons():
    text = "Hi <b>{{survey_title}}</b>,\nplease.\n\nThanks"
    mail = compose("invitation", {"invitation_text": text}, "en", "a@b.c", VALUES,
                   Scale("Speed?", 1, 3))
    # Inline, because mail clients drop <style>: each score looks like a button.
    button = ("display:inline-block;min-width:2em;margin:2px;padding:10px 0;text-align:center;"
              "border:1px solid #888;border-radius:4px;text-decoration:none;color:#000")
    assert mail.html.startswith(
        "<p>Hi &lt;b&gt;T&lt;/b&gt;,<br>please.</p><p>Thanks</p><p><strong>Speed?</strong></p><p>"
        + "".join(f'<a href="https://s.test/s/TOKEN?{PICK_PARAM}={n}" style="{button}">{n}</a>'
                  for n in (1, 2, 3)) + "</p>")


def mails_of(site, *emails: str) -> list:
    """The invitation mails of ``emails`` in a new email campaign of the site's survey, whose
    id becomes the site's (so site.responses() reads its answers)."""
    campaign_id = call(site.rt, site.admin, "CreateCampaign", survey_id=call(
        site.rt, site.admin, "GetCampaign", campaign_id=site.campaign_id).survey_id,
        name="mailed", delivery="email").campaign_id
    call(site.rt, site.admin, "AddRespondents", campaign_id=campaign_id,
         respondents=[m.Respondent(email) for email in emails])
    site.campaign_id = campaign_id
    return [job.mail for job in claim_mail(site.rt, "w1")]


def local(link: str, site) -> str:
    return link.removeprefix(site.rt.base_url)


def test_a_scanner_fetching_every_link_of_every_mail_records_nothing(site):
    mails = mails_of(site, "ana@example.com", "bo@example.com")
    scanner = TestApp(site.app)
    fetched = 0
    for mail in mails:
        for link in links_of(mail):
            scanner.get(local(link, site), status="*")
            fetched += 1
    assert fetched == 2 * (11 + 1 + 1 + 1 + 1)  # scale, text link, HTML and header unsubscribe
    assert site.responses() == []
    assert [c.email for c in call(site.rt, site.admin, "ListSuppressions").contacts] == []
    # the same person's tap and send still work afterwards: the links stayed open
    page = TestApp(site.app).get(local(links_of(mails[0])[3], site))
    TestApp(site.app).post(local(links_of(mails[0])[3], site),
                           {"_csrf": csrf_of(page.text), "nps": "3"})
    assert [r.nps_score for r in site.responses()] == [3]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_score_link_opens_the_survey_with_it_chosen_and_one_tap_records_it(app, key,
                                                                             language):
    site = make_site(app, key, language=language)
    [mail] = mails_of(site, "ana@example.com")
    eight = local(next(link for link in links_of(mail) if link.endswith(f"{PICK_PARAM}=8")), site)
    person = TestApp(site.app)
    page = person.get(eight)
    assert PICKED_NOTE[language] in page.text
    assert page.form["nps"].value == "8"
    assert site.responses() == []
    person.post(eight, {"_csrf": csrf_of(page.text), "nps": page.form["nps"].value})
    [record] = site.responses()
    assert (record.nps_score, record.extra_params) == (8, [])


@pytest.mark.parametrize("pick", ["11", "-1", "x", ""])
def test_a_score_outside_the_scale_chooses_nothing(site, pick):
    [mail] = mails_of(site, "ana@example.com")
    page = TestApp(site.app).get(local(links_of(mail)[0], site).split("?")[0]
                                 + f"?{PICK_PARAM}={pick}")
    assert page.form["nps"].value is None and "Your score" not in page.text


def test_a_survey_starting_with_text_gets_no_scale(app, key):
    site = make_site(app, key, questions=[EVERY_TYPE[4], EVERY_TYPE[0]])
    [mail] = mails_of(site, "ana@example.com")
    assert mail.html is None
