"""The campaign dashboard: figures, weekly trend, filters and breakdown; in Chromium too."""
from __future__ import annotations

import os

import pytest

from service.domain.credentials import Credentials
from service.services import messages as m
from service.services.keys import authenticate, create_account_key
from tests.conftest import ARTIFACTS, call


@pytest.fixture
def campaign_id(app, key, clock):
    rt = app.runtime
    admin = authenticate(rt, Credentials(*key))
    call(rt, admin, "DefineAttribute", name="region", kind="ordinal",
         values=["north", "south", "east"])
    survey_id = call(rt, admin, "CreateSurvey", title="Support follow-up", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?"),
                                m.Question(key="speed", type="rating", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id,
                       name="Closed tickets").campaign_id
    person = 0
    for week, scores in enumerate([[9, 10, 3], [8, 6, 10, 9], [2, 4, 9], [10, 10, 9, 7, 8],
                                   [6, 9], [9, 10, 10, 8, 3, 9], [10, 9, 9], [7, 10, 9, 10]]):
        for score in scores:
            region = ["north", "south", "east"][person % 3]
            link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                        email=f"p{person}@example.com",
                        attributes=[m.Attribute("region", region)])
            call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
                 answers=[m.Answer("nps", str(score)), m.Answer("speed", str(1 + score % 5))])
            person += 1
        clock.advance(days=7)
    return campaign_id


def test_dashboard_shows_figures_trend_and_ordinal_breakdown(web, campaign_id):
    page = web.get(f"/dashboard/{campaign_id}", {"breakdown": "region"})
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    html = page.text
    assert "<h1>Closed tickets</h1>" in html and "<svg" in html and "<script" not in html
    assert html.count('<circle class="dot"') == 8        # one point a week
    assert html.index(">north<") < html.index(">south<") < html.index(">east<")
    assert "Response rate" in html and "100.0 %" in html


def test_dashboard_filters_like_the_metrics_operation(web, app, key, campaign_id):
    page = web.get(f"/dashboard/{campaign_id}", {"f.region": ["north", "east"]})
    metrics = call(app.runtime, authenticate(app.runtime, Credentials(*key)),
                   "GetCampaignMetrics", campaign_id=campaign_id,
                   filters=[m.AttributeFilter("region", ["north", "east"])])
    assert f"<b>{metrics.responded}</b>" in page.text and f"<b>{metrics.nps:g}</b>" in page.text
    assert "<option selected>north</option>" in page.text


def test_dashboard_needs_a_key_of_the_campaigns_account(web, app, campaign_id):
    web.authorization = None
    answer = web.get(f"/dashboard/{campaign_id}", status=401)
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    other = create_account_key(app.runtime, "other", ["read"])
    web.authorization = ("Basic", (other.key_id, other.secret))
    web.get(f"/dashboard/{campaign_id}", status=404)
    web.get("/dashboard/not-a-number", status=400)


@pytest.mark.browser
def test_dashboard_renders_in_headless_chromium(served, chromium, key, campaign_id):
    url = f"{served}/dashboard/{campaign_id}?breakdown=region"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, size in (("phone", {"width": 375, "height": 667}),
                       ("desktop", {"width": 1280, "height": 900})):
        context = chromium.new_context(viewport=size, http_credentials={
            "username": key[0], "password": key[1]})
        page = context.new_page()
        page.goto(url)
        assert page.locator("h1").inner_text() == "Closed tickets"
        assert page.locator("svg circle").count() == 8
        # nothing wider than the screen: no sideways scrolling on a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)
        context.close()
    assert os.path.getsize(ARTIFACTS / "dashboard-desktop.png") > 10_000
