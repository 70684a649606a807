"""The mail's score links in headless Chromium on a phone: the mail, the page, one tap.
Screenshots go to test-artifacts/ (FEEDLOOP_TEST_ARTIFACTS)."""
from __future__ import annotations

import pytest

from service.domain.surveys import LANGUAGES
from tests.conftest import ARTIFACTS
from tests.web.conftest import make_site
from tests.web.test_one_click import mails_of

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_tap_on_a_score_in_the_mail_and_one_on_send_answer_on_a_phone(
        app, key, chromium, served, language):
    site = make_site(app, key, language=language)
    [mail] = mails_of(site, "ana@example.com")
    context = chromium.new_context(viewport=PHONE, locale=language)
    try:
        page = context.new_page()
        page.set_content(mail.html.replace(site.rt.base_url, served))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"mail-one-click-{language}.png"), full_page=True)
        scale = page.get_by_role("link", name="8", exact=True)
        assert scale.bounding_box()["width"] >= 24  # a finger can hit it
        scale.click()
        page.wait_for_load_state()
        assert page.locator("#q-nps-8").is_checked()
        assert page.locator(".picked").is_visible()
        assert site.responses() == []
        page.screenshot(path=str(ARTIFACTS / f"one-click-page-{language}.png"), full_page=True)
        page.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator(".picked").count() == 0
    finally:
        context.close()
    [record] = site.responses()
    assert record.nps_score == 8
