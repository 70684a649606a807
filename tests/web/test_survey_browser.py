"""The survey page in real headless Chromium: by mouse, by keyboard only, at phone and desktop
width. Screenshots go to test-artifacts/ (FEEDLOOP_TEST_ARTIFACTS)."""
from __future__ import annotations

import pytest

from service.web import survey_page
from tests.conftest import ARTIFACTS
from tests.web.conftest import make_site

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}
NARROWEST = {"width": 320, "height": 640}


@pytest.fixture
def browse(chromium, served):
    """Open a path of the served app in a fresh browser context of the given size."""
    contexts = []

    def open_page(path: str, viewport: dict, **options):
        context = chromium.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.goto(served + path)
        return page

    yield open_page
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def answers_of(site) -> dict:
    [record] = site.responses()
    found: dict = {}
    for answer in record.answers:
        found.setdefault(answer.key, []).append(answer.value)
    return found


def fits(page, viewport: dict) -> bool:
    """Nothing wider than the screen: no sideways scrolling."""
    return page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_every_question_type_answered_by_mouse_on_a_phone(site, browse):
    page = browse(site.link(ticket="T-9"), PHONE)
    assert fits(page, PHONE)
    shot(page, "survey-phone")
    page.click("label[for=q-nps-9]")
    page.locator("#q-speed-group").get_by_text("4", exact=True).click()
    page.get_by_label("Chat").check()
    page.get_by_label("Speed").check()
    page.get_by_label("Staff").check()
    page.get_by_label("Anything else you want to tell us?").fill("Quick and kind.")
    page.get_by_label("Your email, if we may answer you").fill("ana@example.com")
    shot(page, "survey-phone-answered")
    page.get_by_role("button", name="Send").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you!"
    shot(page, "survey-thanks-phone")
    assert answers_of(site) == {"nps": ["9"], "speed": ["4"], "channel": ["Chat"],
                                "liked": ["Speed", "Staff"], "comment": ["Quick and kind."],
                                "reply_to": ["ana@example.com"]}


def test_every_question_type_answered_with_the_keyboard_only_on_a_desktop(site, browse):
    page = browse(site.link(), DESKTOP)
    shot(page, "survey-desktop")
    keys = page.keyboard
    focused = "document.activeElement.id"
    keys.press("Tab")
    assert page.evaluate(focused) == "q-nps-0"
    # the focus is visible: a solid ring around the focused button of the scale
    ring = page.evaluate("getComputedStyle(document.querySelector('label[for=q-nps-0]'))"
                         ".outlineStyle")
    assert ring == "solid"
    keys.press("Space")
    for _ in range(9):
        keys.press("ArrowRight")
    keys.press("Tab")
    assert page.evaluate(focused) == "q-speed-1"
    keys.press("Space")
    for _ in range(3):
        keys.press("ArrowRight")
    keys.press("Tab")
    keys.press("ArrowDown")  # Phone -> Email
    keys.press("ArrowDown")  # Email -> Chat
    keys.press("Tab")
    keys.press("Space")      # Speed
    keys.press("Tab")
    keys.press("Tab")
    keys.press("Space")      # Staff
    keys.press("Tab")
    keys.type("Typed, never clicked.")
    keys.press("Tab")
    keys.type("ana@example.com")
    keys.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    shot(page, "survey-desktop-keyboard")
    keys.press("Enter")
    page.wait_for_selector("text=Thank you!")
    assert answers_of(site) == {"nps": ["9"], "speed": ["4"], "channel": ["Chat"],
                                "liked": ["Speed", "Staff"],
                                "comment": ["Typed, never clicked."],
                                "reply_to": ["ana@example.com"]}


def test_refused_answers_stay_on_the_page_with_a_focused_summary_linked_to_the_fields(
        site, browse):
    page = browse(site.link(), PHONE)
    page.get_by_label("Staff").check()
    page.get_by_label("Your email, if we may answer you").fill("ana(at)example")
    page.get_by_role("button", name="Send").click()
    summary = page.locator(".summary")
    assert summary.is_visible() and page.title().startswith("Error: ")
    assert page.evaluate("document.activeElement.className") == "summary"
    assert page.get_by_label("Staff").is_checked()
    assert page.get_by_label("Your email, if we may answer you").input_value() == \
        "ana(at)example"
    shot(page, "survey-errors-phone")
    summary.get_by_role("link").first.click()
    assert page.url.endswith("#q-nps-0")
    page.click("label[for=q-nps-7]")
    page.get_by_label("Your email, if we may answer you").fill("ana@example.com")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("text=Thank you!")
    assert answers_of(site)["liked"] == ["Staff"]


def test_submitting_one_link_twice_records_one_response(site, browse, monkeypatch):
    submits = []
    record = survey_page.respondents.answer_invitation
    monkeypatch.setattr(survey_page.respondents, "answer_invitation",
                        lambda *args: submits.append(args) or record(*args))
    path = site.link()
    # the link opened twice from the mail, the same answers sent from both tabs
    first, second = browse(path, PHONE), browse(path, PHONE)
    for page in (first, second):
        page.click("label[for=q-nps-10]")
        page.get_by_role("button", name="Send").dblclick()
        page.wait_for_selector("text=Thank you!")
    assert len(submits) >= 2
    # back to the form: it is no longer there
    second.go_back()
    assert second.get_by_role("heading", level=1).inner_text() == "You have already answered"
    assert len(site.responses()) == 1


def test_expired_and_unknown_links_have_their_own_pages_in_the_browser_language(
        app, key, clock, browse):
    site = make_site(app, key, language="en")
    path = site.link()
    clock.advance(days=31)
    page = browse(path, PHONE)
    assert page.get_by_role("heading", level=1).inner_text() == "This link has expired"
    shot(page, "survey-expired-phone")
    page = browse("/s/not-a-real-token", PHONE, locale="de-DE")
    assert page.get_by_role("heading", level=1).inner_text() == "Seite nicht gefunden"
    assert page.evaluate("document.documentElement.lang") == "de"
    shot(page, "survey-unknown-phone-de")


def test_the_page_fits_the_narrowest_phone(site, browse):
    page = browse(site.link(), NARROWEST)
    assert fits(page, NARROWEST)
    box = page.locator("label[for=q-nps-10]").bounding_box()
    # still a target a finger can hit (WCAG 2.2 target size: at least 24 x 24 px)
    assert box["width"] >= 24 and box["height"] >= 24
    assert box["x"] + box["width"] <= NARROWEST["width"]
