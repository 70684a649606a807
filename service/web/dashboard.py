"""/dashboard/<campaign>: the campaign's figures for people (HTTP Basic with a read key).

Server-rendered HTML with an inline SVG chart: no script, no external resource.
Filters use the query string: from, to (dates), f.<attribute> (repeatable), breakdown.
"""
from __future__ import annotations

from datetime import datetime, time, timezone

from werkzeug.wrappers import Request, Response

from service.domain.errors import DomainError, ValidationError
from service.services import OPERATIONS, Runtime, invoke
from service.services import messages as m
from service.services.metrics import campaign_trend
from service.web.toolkit import (STYLE_INLINE, WSGIApp, authenticated, error_headers,
                                 html_response, query, render, status_of, wsgi_app)

WIDTH, HEIGHT = 720, 260


def _date(value: str | None, field: str, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationError(f"'{field}' is a date YYYY-MM-DD.", field=field) from None
    moment = datetime.combine(day, time.max if end else time.min, tzinfo=timezone.utc)
    return moment


def chart(points) -> dict:
    """Coordinates of the weekly chart: bars for responses, a line for NPS (-100..100)."""
    left, right, top, bottom = 40, WIDTH - 10, 10, HEIGHT - 22
    zero = top + (bottom - top) / 2

    def y_of(nps: float) -> float:
        return round(zero - nps / 100 * (bottom - top) / 2, 1)

    step = (right - left) / max(len(points), 1)
    most = max((p.responses for p in points), default=1) or 1
    placed = []
    for index, point in enumerate(points):
        x = round(left + step * (index + 0.5), 1)
        height = round((bottom - top) * point.responses / most, 1)
        placed.append({"x": x, "y": None if point.nps is None else y_of(point.nps),
                       "nps": point.nps, "responses": point.responses,
                       "bar_y": round(bottom - height, 1), "bar_h": height,
                       "week": point.week.isoformat(), "label": point.week.strftime("%d %b")})
    return {"width": WIDTH, "height": HEIGHT, "zero": zero, "bar": round(min(step * 0.6, 40), 1),
            "most": most,
            "points": placed,
            "ticks": [{"y": y_of(v), "label": f"{v:+d}" if v else "0"} for v in (100, 50, 0, -50, -100)]}


def create_dashboard_app(rt: Runtime) -> WSGIApp:
    """The WSGI application of /dashboard/."""

    def dashboard(request: Request) -> Response:
        principal = authenticated(rt, request, "read")
        campaign_part = request.path.removeprefix("/dashboard/")
        if not campaign_part.isdigit():
            raise ValidationError("The address is /dashboard/<campaign id>.", field="campaign")
        values = query(request)
        last = {name: given[-1] for name, given in values.items()}
        filters = {name[2:]: given for name, given in values.items() if name.startswith("f.")}
        metrics_request = m.GetCampaignMetricsRequest(
            campaign_id=int(campaign_part), date_from=_date(last.get("from"), "from"),
            date_to=_date(last.get("to"), "to", end=True),
            filters=[m.AttributeFilter(name, given) for name, given in filters.items()],
            breakdown=last.get("breakdown"))
        metrics = invoke(rt, principal, OPERATIONS["GetCampaignMetrics"], metrics_request)
        campaign = invoke(rt, principal, OPERATIONS["GetCampaign"],
                          m.GetCampaignRequest(campaign_id=metrics_request.campaign_id))
        survey = invoke(rt, principal, OPERATIONS["GetSurvey"],
                        m.GetSurveyRequest(survey_id=campaign.survey_id))
        attributes = invoke(rt, principal, OPERATIONS["ListAttributes"],
                            m.ListAttributesRequest()).attributes
        trend = campaign_trend(rt, principal, metrics_request)
        html = render(
            "dashboard.html", campaign={"id": campaign.campaign_id, "name": campaign.name},
            survey=survey, metrics=metrics, chart=chart(trend), attributes=attributes,
            filters=filters, breakdown=metrics_request.breakdown, query=last,
            period=" – ".join(filter(None, (last.get("from"), last.get("to")))),
            fmt=lambda v: "–" if v is None else (f"{v:g}"),
            pct=lambda v: "–" if v is None else f"{100 * v:.1f} %")
        return html_response(html, style_src=STYLE_INLINE)

    return wsgi_app(dashboard, "dashboard", _error_page)


def _error_page(request: Request, error: DomainError) -> Response:
    return html_response(render("dashboard_error.html", error=error), status_of(error),
                         STYLE_INLINE, error_headers(error))
