"""/dashboard/<campaign>: the campaign's figures for people (HTTP Basic with a read key).

Server-rendered HTML with an inline SVG chart: no script, no external resource.
Filters use the query string: from, to (dates), f.<attribute> (repeatable), breakdown.
"""
from __future__ import annotations

from datetime import datetime, time, timezone
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.domain.errors import DomainError, ValidationError
from service.http.request import basic_credentials
from service.services import OPERATIONS, Runtime, invoke
from service.services import messages as m
from service.services.keys import authenticate
from service.services.metrics import campaign_trend

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(default=True))
_HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                        "form-action 'self'; frame-ancestors 'none'")]
_STATUS = {"Unauthorized": "401 Unauthorized", "Forbidden": "403 Forbidden",
           "UnknownCampaign": "404 Not Found", "TooManyRequests": "429 Too Many Requests"}
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


def create_dashboard_app(rt: Runtime) -> Callable:
    def dashboard(environ: dict, start_response: Callable) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        first = {k: v[-1] for k, v in query.items()}
        try:
            principal = authenticate(rt, basic_credentials(environ), environ.get("REMOTE_ADDR"))
            campaign_part = environ.get("PATH_INFO", "").removeprefix("/dashboard/")
            if not campaign_part.isdigit():
                raise ValidationError("The address is /dashboard/<campaign id>.", field="campaign")
            filters = {k[2:]: v for k, v in query.items() if k.startswith("f.") and v}
            request = m.GetCampaignMetricsRequest(
                campaign_id=int(campaign_part), date_from=_date(first.get("from"), "from"),
                date_to=_date(first.get("to"), "to", end=True),
                filters=[m.AttributeFilter(name, values) for name, values in filters.items()],
                breakdown=first.get("breakdown") or None)
            metrics = invoke(rt, principal, OPERATIONS["GetCampaignMetrics"], request)
            campaign = invoke(rt, principal, OPERATIONS["GetCampaign"],
                              m.GetCampaignRequest(campaign_id=request.campaign_id))
            survey = invoke(rt, principal, OPERATIONS["GetSurvey"],
                            m.GetSurveyRequest(survey_id=campaign.survey_id))
            attributes = invoke(rt, principal, OPERATIONS["ListAttributes"],
                                m.ListAttributesRequest()).attributes
            trend = campaign_trend(rt, principal, request)
        except DomainError as error:
            headers = [("WWW-Authenticate", 'Basic realm="feedloop dashboard"')] \
                if error.code == "Unauthorized" else []
            return _page(start_response, _STATUS.get(error.code, "400 Bad Request"),
                         f"<!doctype html><title>{error.code}</title><h1>{error.code}</h1>",
                         headers, error.message)
        html = _TEMPLATES.get_template("dashboard.html").render(
            campaign={"id": campaign.campaign_id, "name": campaign.name}, survey=survey,
            metrics=metrics, chart=chart(trend), attributes=attributes, filters=filters,
            breakdown=request.breakdown, query=first,
            period=" – ".join(filter(None, (first.get("from"), first.get("to")))),
            fmt=lambda v: "–" if v is None else (f"{v:g}"),
            pct=lambda v: "–" if v is None else f"{100 * v:.1f} %")
        return _page(start_response, "200 OK", html)

    return dashboard


def _page(start_response: Callable, status: str, html: str,
          headers: list[tuple[str, str]] = (), message: str = "") -> list[bytes]:
    if message:
        from html import escape
        html += f"<p>{escape(message)}</p>"
    body = html.encode("utf-8")
    start_response(status, [*_HEADERS, *headers, ("Content-Length", str(len(body)))])
    return [body]
