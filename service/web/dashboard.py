"""/dashboard/<campaign>: a campaign's figures, weekly charts and comments, for people.

Server-rendered HTML with inline SVG charts: no script, no external resource. The
whole view is in the query string, so it can be bookmarked and shared: from, to
(dates), f.<attribute> (repeatable), breakdown, category, page.
/dashboard/<campaign>/responses.csv downloads the responses of the same view.
Every figure comes from GetCampaignMetrics with the same filters.
"""
from __future__ import annotations

import csv
import io
import math
from datetime import datetime, time, timezone
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from service.domain.errors import NotFound, ValidationError
from service.domain.surveys import nps_margin
from service.services import OPERATIONS, Runtime, invoke
from service.services import messages as m
from service.services.dumps import spreadsheet_safe
from service.services.metrics import (TrendPoint, campaign_span, campaign_trend, comments_page,
                                      view_responses)
from service.web.people import page_response, people_app
from service.web.session import visitor
from service.web.toolkit import NO_SNIFF, WSGIApp, query

CATEGORIES = ("detractor", "passive", "promoter")
COMMENTS_PER_PAGE = 20
#: A week with fewer answers than this has an NPS that is mostly noise: drawn hollow, no band.
MIN_WEEK_ANSWERS = 5
#: The two drawings of each chart: a narrow one for phones, a wide one from 48rem on. The
#: font size is in drawing units, chosen so labels render at least as large as body text.
#: The room a week label ("02 Nov") takes, in font sizes, its margin included.
LABEL_EMS = 4.2
SIZES = {"narrow": {"width": 340, "font": 18}, "wide": {"width": 720, "font": 17}}


def _date(value: str | None, field: str, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationError(f"'{field}' is a date YYYY-MM-DD.", field=field) from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=timezone.utc)


def view_request(campaign_id: int, values: dict[str, list[str]]) -> m.GetCampaignMetricsRequest:
    """The GetCampaignMetrics request of a dashboard view's query."""
    last = {name: given[-1] for name, given in values.items()}
    return m.GetCampaignMetricsRequest(
        campaign_id=campaign_id, date_from=_date(last.get("from"), "from"),
        date_to=_date(last.get("to"), "to", end=True),
        filters=[m.AttributeFilter(name[2:], given) for name, given in values.items()
                 if name.startswith("f.")],
        breakdown=last.get("breakdown"))


def _week_labels(points: list[TrendPoint], plot: float, font: float) -> list[str]:
    """Week labels, every k-th one so that neighbours never overlap."""
    every = max(1, math.ceil(len(points) * font * LABEL_EMS / plot))
    return [p.week.strftime("%d %b") if i % every == 0 else "" for i, p in enumerate(points)]


def chart(points: list[TrendPoint], width: int, font: int) -> dict:
    """Coordinates of the weekly charts at one width: NPS with its 95% band, and responses."""
    left, right = round(font * 2.7), width - font * 0.6
    nps_top, nps_bottom = font * 0.8, font * 0.8 + 200
    step = (right - left) / max(len(points), 1)
    labels = _week_labels(points, right - left, font)

    def y_of(nps: float) -> float:
        return round(nps_top + (100 - max(-100.0, min(100.0, nps))) / 200 * (nps_bottom - nps_top),
                     1)

    most = max((p.responses for p in points), default=1) or 1
    bars_top, bars_bottom = font * 0.8, font * 0.8 + 90
    placed, band_runs, run = [], [], []
    for index, point in enumerate(points):
        x = round(left + step * (index + 0.5), 1)
        reliable = point.nps is not None and point.responses >= MIN_WEEK_ANSWERS
        height = round((bars_bottom - bars_top) * point.responses / most, 1)
        placed.append({"x": x, "y": None if point.nps is None else y_of(point.nps),
                       "nps": point.nps, "margin": point.margin, "responses": point.responses,
                       "reliable": reliable, "bar_y": round(bars_bottom - height, 1),
                       "bar_h": height, "week": point.week, "label": labels[index]})
        if reliable:
            run.append((x, y_of(point.nps + point.margin), y_of(point.nps - point.margin)))
        elif run:
            band_runs.append(run)
            run = []
    if run:
        band_runs.append(run)
    half = round(min(step * 0.3, font), 1)
    bands = []
    for run in band_runs:
        if len(run) == 1:  # a lone reliable week still gets its band, as wide as a bar
            x, upper, lower = run[0]
            run = [(x - half, upper, lower), (x + half, upper, lower)]
        bands.append(" ".join([f"{x},{upper}" for x, upper, _ in run]
                              + [f"{x},{lower}" for x, _, lower in reversed(run)]))
    middle = math.ceil(most / 2)
    return {
        "width": width, "font": font, "left": left, "right": right,
        "nps_height": round(nps_bottom + font * 1.6), "nps_bottom": nps_bottom,
        "bars_height": round(bars_bottom + font * 1.6), "bars_bottom": bars_bottom,
        "bar": round(min(step * 0.6, 40), 1), "points": placed, "bands": bands,
        "line": " ".join(f"{p['x']},{p['y']}" for p in placed if p["reliable"]),
        "nps_ticks": [{"y": y_of(v), "label": f"{v:+d}" if v else "0"}
                      for v in (100, 50, 0, -50, -100)],
        "bar_ticks": [{"y": round(bars_bottom - (bars_bottom - bars_top) * v / most, 1),
                       "label": str(v)} for v in sorted({0, middle, most})]}


def _link(campaign_id: int, values: dict[str, list[str]], path: str = "", **changes) -> str:
    """The address of this view with some of its query changed (None removes a name)."""
    merged = {**values, **{name.replace("__", "."): None if value is None else [str(value)]
                           for name, value in changes.items()}}
    pairs = [(name, value) for name, given in merged.items() if given for value in given]
    text = urlencode(pairs)
    return f"/dashboard/{campaign_id}{path}" + (f"?{text}" if text else "")


def create_dashboard_app(rt: Runtime) -> WSGIApp:
    """The WSGI application of /dashboard/."""

    def dashboard(request: Request) -> Response:
        who = visitor(rt, request, "read")
        campaign_part, _, rest = request.path.removeprefix("/dashboard/").partition("/")
        if not campaign_part.isdigit():
            raise ValidationError("The address is /dashboard/<campaign id>.", field="campaign")
        campaign_id = int(campaign_part)
        values = query(request)
        metrics_request = view_request(campaign_id, values)
        last = {name: given[-1] for name, given in values.items()}
        category = last.get("category")
        if category not in (None, *CATEGORIES):
            raise ValidationError("category is detractor, passive or promoter.",
                                  field="category")
        if rest == "responses.csv":
            return _csv(rt, who.principal, metrics_request, category)
        if rest:
            raise NotFound("No such page.")
        principal = who.principal
        metrics = invoke(rt, principal, OPERATIONS["GetCampaignMetrics"], metrics_request)
        campaign = invoke(rt, principal, OPERATIONS["GetCampaign"],
                          m.GetCampaignRequest(campaign_id=campaign_id))
        survey = invoke(rt, principal, OPERATIONS["GetSurvey"],
                        m.GetSurveyRequest(survey_id=campaign.survey_id))
        attributes = invoke(rt, principal, OPERATIONS["ListAttributes"],
                            m.ListAttributesRequest()).attributes
        trend = campaign_trend(rt, principal, metrics_request)
        first, latest = campaign_span(rt, principal, campaign_id)
        page_number = int(last["page"]) if last.get("page", "").isdigit() else 1
        comments = comments_page(rt, principal, metrics_request, category, page_number,
                                 COMMENTS_PER_PAGE)
        filters = {name[2:]: given for name, given in values.items() if name.startswith("f.")}
        return page_response(
            rt, request, who, "dashboard.html",
            campaign={"id": campaign.campaign_id, "name": campaign.name},
            survey=survey, metrics=metrics, attributes=attributes, filters=filters,
            margin=nps_margin(metrics.promoters, metrics.detractors,
                              metrics.promoters + metrics.passives + metrics.detractors),
            breakdown=metrics_request.breakdown, query=last, category=category,
            charts={name: chart(trend, **size) for name, size in SIZES.items()},
            trend=trend, min_week=MIN_WEEK_ANSWERS, comments=comments,
            questions={q.key: q.text for q in survey.questions},
            date_from=last.get("from") or (first.isoformat() if first else ""),
            date_to=last.get("to") or (latest.isoformat() if latest else ""),
            link=lambda path="", **changes: _link(campaign_id, values, path, **changes),
            categories=CATEGORIES)

    return people_app(rt, dashboard, "dashboard")


def _csv(rt: Runtime, principal, metrics_request: m.GetCampaignMetricsRequest,
         category: str | None) -> Response:
    """The responses of the view as CSV; text people typed is guarded against formulas."""
    survey_keys = invoke(rt, principal, OPERATIONS["GetSurvey"], m.GetSurveyRequest(
        survey_id=invoke(rt, principal, OPERATIONS["GetCampaign"], m.GetCampaignRequest(
            campaign_id=metrics_request.campaign_id)).survey_id)).questions
    text_keys = [q.key for q in survey_keys if q.type == "text"]
    names = [a.name for a in invoke(rt, principal, OPERATIONS["ListAttributes"],
                                    m.ListAttributesRequest()).attributes]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["response_id", "submitted_at", "nps_score", "nps_category", "email",
                     *(f"a.{n}" for n in names), *(f"q.{k}" for k in text_keys)])
    for item in view_responses(rt, principal, metrics_request, category):
        writer.writerow([item.response_id, f"{item.submitted_at:%Y-%m-%dT%H:%M:%SZ}",
                         item.nps_score, item.category,
                         spreadsheet_safe(item.email),
                         *(spreadsheet_safe(item.attributes.get(n)) for n in names),
                         *(spreadsheet_safe(item.texts.get(k)) for k in text_keys)])
    name = f"campaign-{metrics_request.campaign_id}-responses.csv"
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
        **NO_SNIFF})
