"""The campaign dashboard: figures equal to GetCampaignMetrics, charts, comments, filters, CSV."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest

from service.domain.credentials import Credentials
from service.services import messages as m
from service.services.keys import authenticate, create_account_key
from service.services.metrics import TrendPoint
from service.web import dashboard
from service.web.dashboard import LABEL_EMS, MIN_WEEK_ANSWERS, chart
from tests.conftest import call

WEEKS = [[9, 10, 3], [8, 6, 10, 9], [2, 4, 9], [10, 10, 9, 7, 8],
         [6, 9], [9, 10, 10, 8, 3, 9], [10, 9, 9], [7, 10, 9, 10]]
REGIONS = ["north", "south", "east"]


def comment_of(person: int, score: int) -> str:
    """Every other respondent writes something; detractors always do."""
    if score <= 6:
        return f"Slow answer <b>#{person}</b>"
    return f"Fine, thanks ({person})" if person % 2 else ""


@pytest.fixture
def campaign_id(app, key, clock):
    rt = app.runtime
    admin = authenticate(rt, Credentials(*key))
    call(rt, admin, "DefineAttribute", name="region", kind="ordinal", values=REGIONS)
    survey_id = call(rt, admin, "CreateSurvey", title="Support follow-up", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?"),
                                m.Question(key="speed", type="rating", text="How quick?"),
                                m.Question(key="why", type="text", text="Why?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id,
                       name="Closed tickets").campaign_id
    person = 0
    for scores in WEEKS:
        for score in scores:
            link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                        email=f"p{person}@example.com",
                        attributes=[m.Attribute("region", REGIONS[person % 3])])
            answers = [m.Answer("nps", str(score)), m.Answer("speed", str(1 + score % 5))]
            if comment_of(person, score):
                answers.append(m.Answer("why", comment_of(person, score)))
            call(rt, admin, "RecordResponse", invitation_id=link.invitation_id, answers=answers)
            person += 1
            clock.advance(hours=1)
        clock.advance(days=7)
    return campaign_id


def metrics_of(app, key, campaign_id, **fields):
    return call(app.runtime, authenticate(app.runtime, Credentials(*key)), "GetCampaignMetrics",
                campaign_id=campaign_id, **fields)


def card(html: str, label: str) -> str:
    """The value of a figure card, as shown."""
    found = re.search(rf'<span class="label">{re.escape(label)}</span><span class="value">([^<]*)',
                      html)
    return found.group(1).strip()


def funnel(html: str) -> list[int]:
    return [int(v) for v in re.findall(r"<li><b>(\d+)</b>", html)]


@pytest.mark.parametrize("query, fields", [
    ({}, {}),
    ({"f.region": ["north", "east"]}, {"filters": [m.AttributeFilter("region", ["north", "east"])]}),
    ({"from": "2026-11-09", "to": "2026-11-30"}, {"date_from": "2026-11-09T00:00:00+00:00",
                                                 "date_to": "2026-11-30T23:59:59.999999+00:00"}),
])
def test_every_figure_on_the_page_equals_get_campaign_metrics(web, app, key, campaign_id, query,
                                                                fields):
    fields = {name: datetime.fromisoformat(value) if name.startswith("date") else value
              for name, value in fields.items()}
    metrics = metrics_of(app, key, campaign_id, **fields)
    html = web.get(f"/dashboard/{campaign_id}", query).text
    assert card(html, "NPS").startswith(f"{metrics.nps:g}")
    assert card(html, "Response rate") == f"{100 * metrics.response_rate:.1f} %"
    assert card(html, "Responses") == str(metrics.responded)
    assert funnel(html) == [metrics.invited, metrics.sent, metrics.opened, metrics.responded]
    split = re.findall(r'<span class="(pro|pas|det)">(\d+) <small>', html)
    assert split == [("pro", str(metrics.promoters)), ("pas", str(metrics.passives)),
                     ("det", str(metrics.detractors))]


def test_an_answered_invitation_counts_as_opened_so_the_funnel_never_narrows_backwards(
        web, app, key, campaign_id):
    metrics = metrics_of(app, key, campaign_id)
    assert metrics.invited >= metrics.sent >= metrics.opened >= metrics.responded == 30
    assert "More responses than opened" not in web.get(f"/dashboard/{campaign_id}").text


def test_the_breakdown_lists_ordinal_values_in_their_order(web, campaign_id):
    html = web.get(f"/dashboard/{campaign_id}", {"breakdown": "region"}).text
    table = html[html.index('id="breakdown-title"'):]
    assert table.index(">north<") < table.index(">south<") < table.index(">east<")


def test_the_page_has_charts_without_script_and_marks_weeks_with_too_few_answers(
        web, campaign_id):
    html = web.get(f"/dashboard/{campaign_id}").text
    assert "<script" not in html
    assert html.count('<svg class="chart') == 4        # NPS and responses, narrow and wide
    sparse = sum(1 for scores in WEEKS if len(scores) < MIN_WEEK_ANSWERS)
    assert html.count('class="dot sparse"') == 2 * sparse
    assert html.count('class="dot"') == 2 * (len(WEEKS) - sparse)
    assert html.count('<polygon class="band"') == 2 * 2  # two runs of one reliable week


def test_the_nps_band_is_the_95_percent_margin_and_stays_within_the_axis():
    points = [TrendPoint(date(2026, 11, 2), 10, 50.0, 40.0),
              TrendPoint(date(2026, 11, 9), 10, 90.0, 30.0),
              TrendPoint(date(2026, 11, 16), 3, -100.0, 0.0)]
    drawn = chart(points, width=720, font=17)
    [band] = drawn["bands"]
    ys = [float(pair.split(",")[1]) for pair in band.split()]
    top, zero = drawn["nps_ticks"][0]["y"], drawn["nps_ticks"][2]["y"]
    bottom = drawn["nps_ticks"][-1]["y"]
    scale = (bottom - top) / 200
    # upper edge 90, 100 (120 clipped), lower edge 60, 10
    assert ys == pytest.approx([zero - 90 * scale, top, zero - 60 * scale, zero - 10 * scale],
                               abs=0.2)
    assert [p["reliable"] for p in drawn["points"]] == [True, True, False]
    assert drawn["line"].count(",") == 2


def test_the_responses_chart_has_its_own_axis_from_zero_to_the_busiest_week():
    points = [TrendPoint(date(2026, 11, 2), 4, 0.0, 50.0),
              TrendPoint(date(2026, 11, 9), 9, 10.0, 40.0)]
    drawn = chart(points, width=340, font=18)
    assert [t["label"] for t in drawn["bar_ticks"]] == ["0", "5", "9"]
    busiest = drawn["points"][1]
    assert busiest["bar_y"] == pytest.approx(drawn["bar_ticks"][-1]["y"])
    assert busiest["bar_y"] + busiest["bar_h"] == pytest.approx(drawn["bars_bottom"])


def test_week_labels_are_thinned_so_that_they_never_overlap_on_a_phone():
    points = [TrendPoint(date(2026, 1, 5) + timedelta(weeks=i), 5, 0.0, 10.0)
              for i in range(16)]
    narrow = chart(points, width=340, font=18)["points"]
    shown = [p["x"] for p in narrow if p["label"]]
    assert len(shown) < 16 and min(b - a for a, b in zip(shown, shown[1:])) >= 18 * LABEL_EMS
    assert all(p["label"] for p in chart(points, width=720, font=17)["points"][:4:2])


def test_comments_are_newest_first_escaped_and_link_to_the_contacts_results(web, campaign_id):
    html = web.get(f"/dashboard/{campaign_id}").text
    comments = html[html.index('id="comments"'):]
    assert "&lt;b&gt;#" in comments and "<b>#" not in comments
    people = [int(n) for n in re.findall(r"(?:Slow answer &lt;b&gt;#|Fine, thanks \()(\d+)",
                                         comments)]
    commented = [n for n, score in enumerate(s for week in WEEKS for s in week)
                 if comment_of(n, score)]
    assert people == sorted(commented, reverse=True)
    link = re.search(r'<a href="(/contacts/\d+)">(p\d+@example\.com)</a>', comments)
    contact = web.get(link.group(1)).text
    assert f"<h1>{link.group(2)}</h1>" in contact and "Closed tickets" in contact


def test_detractors_are_one_click_away_and_the_view_pages_on(web, campaign_id, monkeypatch):
    monkeypatch.setattr(dashboard, "COMMENTS_PER_PAGE", 10)
    page = web.get(f"/dashboard/{campaign_id}", {"f.region": "north"})
    detractors = page.click(href="category=detractor", index=0)
    html = detractors.text
    assert 'aria-current="page">Detractors<' in html
    scores = [int(s) for s in re.findall(r'<span class="score det">(\d+) ·', html)]
    assert scores and all(s <= 6 for s in scores)
    assert "f.region=north" in detractors.request.url
    all_comments = web.get(f"/dashboard/{campaign_id}").text
    assert "Page 1 of 2" in all_comments
    older = web.get(f"/dashboard/{campaign_id}", {"page": "2"}).text
    assert "Page 2 of 2" in older and 'rel="prev"' in older


def test_filters_are_chips_in_ordinal_order_and_dates_default_to_the_campaigns_range(
        web, campaign_id):
    html = web.get(f"/dashboard/{campaign_id}", {"f.region": "south"}).text
    chips = re.findall(r'name="f\.region" value="(\w+)"( checked)?', html)
    assert chips == [("north", ""), ("south", " checked"), ("east", "")]
    assert 'name="from" value="2026-11-02"' in html and 'name="to" value="2026-12-22"' in html


def test_the_csv_download_holds_the_responses_of_the_current_view(web, campaign_id):
    answer = web.get(f"/dashboard/{campaign_id}/responses.csv",
                     {"f.region": "north", "category": "detractor"})
    assert answer.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows and {r["a.region"] for r in rows} == {"north"}
    assert {r["nps_category"] for r in rows} == {"detractor"}
    assert all(r["q.why"].startswith("Slow answer") for r in rows)


def test_a_typed_formula_reaches_the_csv_harmless(web, app, key, campaign_id):
    admin = authenticate(app.runtime, Credentials(*key))
    link = call(app.runtime, admin, "GetTrackingUrl", campaign_id=campaign_id,
                email="eve@example.com")
    call(app.runtime, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "0"), m.Answer("why", "=HYPERLINK(\"x\")")])
    text = web.get(f"/dashboard/{campaign_id}/responses.csv").text
    assert "'=HYPERLINK" in text


def test_a_bad_query_is_refused_with_a_page(web, campaign_id):
    assert "is a date" in web.get(f"/dashboard/{campaign_id}", {"from": "yesterday"},
                                  status=400).text
    web.get(f"/dashboard/{campaign_id}", {"category": "fans"}, status=400)
    web.get(f"/dashboard/{campaign_id}/elsewhere", status=404)
    web.get("/dashboard/not-a-number", status=400)


def test_scripts_keep_http_basic_and_its_challenge(web, app, campaign_id):
    web.authorization = None
    answer = web.get(f"/dashboard/{campaign_id}", status=401)
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    other = create_account_key(app.runtime, "other", ["read"])
    web.authorization = ("Basic", (other.key_id, other.secret))
    web.get(f"/dashboard/{campaign_id}", status=404)
    web.get(f"/dashboard/{campaign_id}/responses.csv", status=404)
    trigger = create_account_key(app.runtime, "acme", ["trigger"])
    web.authorization = ("Basic", (trigger.key_id, trigger.secret))
    web.get(f"/dashboard/{campaign_id}", status=403)
