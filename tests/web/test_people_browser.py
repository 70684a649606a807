"""The account pages in real headless Chromium, as a CX team uses them: sign in with a read key,
find the campaign, filter to one region's detractors and read their comments, on a phone and
on a desktop, by mouse and by keyboard only. Every page is checked by axe-core (no serious or
critical violation), must not scroll sideways, and keeps its labels at least as large as body
text. Screenshots of every page at 375 px and 1280 px go to test-artifacts/."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.services.keys import create_account_key
from tests.conftest import ARTIFACTS
from tests.integration.test_dashboard import campaign_id  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
SIZES = {"phone": PHONE, "desktop": DESKTOP}


def axe_script() -> Path:
    """axe-core's browser bundle, as the axe-playwright-python package ships it."""
    import axe_playwright_python
    return Path(axe_playwright_python.__file__).parent / "axe.min.js"


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    page.add_script_tag(path=str(axe_script()))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})"
                          ".then(r => r.violations)")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in found if v["impact"] in ("serious", "critical")]


#: Every visible element that shows text of its own, and the size it renders at (SVG text
#: scaled with its drawing), compared with the body text's size.
_SMALL_TEXT = """() => {
  const body = parseFloat(getComputedStyle(document.body).fontSize);
  const small = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || el.closest('title, .visually-hidden')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let size = parseFloat(style.fontSize);
    if (el instanceof SVGElement) size *= el.getScreenCTM().a;
    if (size < body - 0.01) small.push(`${el.tagName}.${el.className.baseVal ?? el.className}: ${size.toFixed(1)}px "${el.textContent.trim().slice(0, 30)}"`);
  }
  return {body, small};
}"""


def check_page(page, name: str, size: str) -> None:
    """The checks every page passes at every size, and its screenshot."""
    viewport = SIZES[size]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # First, so that a failing check leaves the picture to look at.
    page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
      .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
      .map(e => `${e.tagName}.${e.className.baseVal ?? e.className}`).slice(0, 5)""")
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= viewport["width"], f"{name} scrolls sideways at {size}: {wide}"
    text = page.evaluate(_SMALL_TEXT)
    assert text["body"] >= 16 and text["small"] == [], f"{name} at {size}: {text['small']}"
    assert serious_violations(page) == [], name


@pytest.fixture
def open_browser(chromium):
    contexts = []

    def open_context(size: str, **options):
        # bypass_csp lets axe-core in: our pages allow no script at all.
        context = chromium.new_context(viewport=SIZES[size], bypass_csp=True, **options)
        contexts.append(context)
        return context.new_page()

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def reader(app):
    key = create_account_key(app.runtime, "acme", ["read"], label="cx team")
    return key.key_id, key.secret


def sign_in(page, served: str, key: tuple[str, str], size: str | None = None,
            words: tuple[str, str, str] = ("Key id", "Secret", "Sign in")) -> None:
    page.goto(f"{served}/home")
    assert page.url.startswith(f"{served}/signin?next=")
    if size:
        check_page(page, "signin", size)
    page.get_by_label(words[0]).fill(key[0])
    page.get_by_label(words[1]).fill(key[1])
    follow(page, page.get_by_role("button", name=words[2]))
    assert page.url == f"{served}/home"


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_reader_signs_in_finds_the_campaign_and_reads_one_regions_detractors(
        open_browser, served, reader, campaign_id, size):  # noqa: F811
    page = open_browser(size)
    sign_in(page, served, reader, size)
    check_page(page, "home", size)
    follow(page, page.get_by_role("link", name="Closed tickets"))
    assert page.locator("h1").inner_text() == "Closed tickets"
    check_page(page, "dashboard-campaign", size)
    page.locator("label.chip", has_text="north").click()
    follow(page, page.get_by_role("button", name="Apply"))
    follow(page, page.get_by_role("link", name="Detractors"))
    assert "f.region=north" in page.url and "category=detractor" in page.url
    comments = page.locator("li.comment")
    assert comments.count() >= 2
    for index in range(comments.count()):
        item = comments.nth(index)
        assert "is-det" in item.get_attribute("class").split()
        assert "region: north" in item.inner_text()
        assert item.locator("blockquote").inner_text().startswith("Slow answer <b>#")
    check_page(page, "dashboard", size)
    assert page.locator("svg.chart:visible").count() == 2
    follow(page, page.locator("li.comment a").first)
    assert page.locator("h1").inner_text().endswith("@example.com")
    check_page(page, "contact", size)
    page.goto(f"{served}/dashboard/999999")
    assert page.locator("h1").inner_text() == "Not found"
    check_page(page, "not-found", size)


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_an_admin_manages_keys_in_the_browser(open_browser, served, key, size):
    page = open_browser(size)
    sign_in(page, served, key)
    follow(page, page.get_by_role("link", name="API keys"))
    page.get_by_label("Label (what uses this key)").fill("looker")
    follow(page, page.get_by_role("button", name="Create key"))
    secret = page.locator("code.secret").inner_text()
    assert secret.startswith("fl_") and ":" in secret
    check_page(page, "keys", size)
    new_id = secret.split(":")[0]
    follow(page, page.get_by_role("button", name=f"Revoke {new_id}"))
    assert f"Key {new_id} is revoked" in page.locator("main").inner_text()


def follow(page, target) -> None:
    """Click a link or button and wait until the page it leads to has loaded."""
    with page.expect_navigation():
        target.click()


def press_tab_until(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focused element matches ``selector``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} was never reached with Tab")


def test_the_whole_journey_works_with_the_keyboard_alone(open_browser, served, reader,
                                                        campaign_id):  # noqa: F811
    page = open_browser("desktop")
    page.goto(f"{served}/home")
    press_tab_until(page, "#key_id")
    page.keyboard.type(reader[0])
    page.keyboard.press("Tab")
    page.keyboard.type(reader[1])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served}/home")
    press_tab_until(page, f"a[href='/dashboard/{campaign_id}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served}/dashboard/{campaign_id}")
    press_tab_until(page, "input[value=north]")
    outline = page.evaluate("getComputedStyle(document.activeElement.nextElementSibling)"
                            ".outlineStyle")
    assert outline == "solid"                       # the chip shows where the focus is
    page.keyboard.press("Space")
    press_tab_until(page, "button[type=submit]:not(.link-button)")
    page.keyboard.press("Enter")
    page.wait_for_url("**f.region=north**")
    press_tab_until(page, "a[href*='category=detractor']")
    page.keyboard.press("Enter")
    page.wait_for_url("**category=detractor**")
    texts = page.locator("li.comment").all_inner_texts()
    assert texts and all("region: north" in text for text in texts)


def test_a_german_reader_gets_the_pages_in_german_and_they_still_fit_a_phone(
        open_browser, served, reader, campaign_id):  # noqa: F811
    page = open_browser("phone", locale="de-DE")
    sign_in(page, served, reader, words=("Schlüssel-ID", "Geheimnis", "Anmelden"))
    follow(page, page.get_by_role("link", name="Closed tickets"))
    follow(page, page.get_by_role("link", name="Kritiker"))
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("heading", name="NPS pro Woche").is_visible()
    check_page(page, "dashboard-de", "phone")
