"""Campaign metrics: counts, response rate, NPS and rating averages, filtered and broken down."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterator

from service.domain.errors import UnknownCampaign, ValidationError
from service.domain.surveys import nps_category, nps_margin
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.runtime import Runtime
from service.services.surveys import get_campaign_of

NO_VALUE = ""  # the breakdown group of contacts without the attribute


@dataclass
class Tally:
    """Running counts of one group of invitations and responses."""

    invited: int = 0
    sent: int = 0
    opened: int = 0
    responded: int = 0
    answered_invitations: int = 0
    categories: dict[str, int] = field(default_factory=lambda: {
        "promoter": 0, "passive": 0, "detractor": 0})

    @property
    def response_rate(self) -> float | None:
        return round(self.answered_invitations / self.sent, 4) if self.sent else None

    @property
    def nps(self) -> float | None:
        scored = sum(self.categories.values())
        if not scored:
            return None
        return round(100 * (self.categories["promoter"] - self.categories["detractor"]) / scored, 1)

    @property
    def nps_margin(self) -> float | None:
        """NPS's 95% margin of error."""
        return nps_margin(self.categories["promoter"], self.categories["detractor"],
                          sum(self.categories.values()))

    def figures(self) -> dict:
        return {"invited": self.invited, "sent": self.sent, "opened": self.opened,
                "responded": self.responded, "response_rate": self.response_rate,
                "nps": self.nps, "promoters": self.categories["promoter"],
                "passives": self.categories["passive"],
                "detractors": self.categories["detractor"]}


def _matches(attributes: dict | None, filters: dict[str, set[str]]) -> bool:
    attributes = attributes or {}
    return all(attributes.get(name) in values for name, values in filters.items())


def _filter_sets(request: m.GetCampaignMetricsRequest) -> dict[str, set[str]]:
    filters: dict[str, set[str]] = {}
    for item in request.filters:
        filters.setdefault(item.name, set()).update(item.values)
    return filters


@operation("GetCampaignMetrics", scope="read", audited=False,
           errors=(UnknownCampaign, ValidationError))
def get_campaign_metrics(rt: Runtime, principal: Principal,
                         request: m.GetCampaignMetricsRequest) -> m.CampaignMetrics:
    """Sent, opened, responded, response rate, NPS and rating averages; filters and a breakdown.

    An answered invitation counts as opened: answers recorded through RecordResponse never
    open the link."""
    filters = _filter_sets(request)
    total = Tally()
    groups: dict[str, Tally] = {}
    ratings: dict[str, list[int]] = {}

    def group_of(attributes: dict | None) -> Tally | None:
        if request.breakdown is None:
            return None
        value = (attributes or {}).get(request.breakdown, NO_VALUE)
        return groups.setdefault(value, Tally())

    with rt.uow(replica=True) as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        survey = uow.surveys.get(principal.account_id, campaign.survey_id)
        rating_keys = [q.key for q in survey.questions if q.type == "rating"]
        definition = uow.attributes.all(principal.account_id).get(request.breakdown or "")
        for row in uow.invitations.for_metrics(principal.account_id, campaign.id,
                                               request.date_from, request.date_to):
            if not _matches(row.attributes, filters):
                continue
            for tally in filter(None, (total, group_of(row.attributes))):
                tally.invited += 1
                tally.sent += row.sent_at is not None
                tally.opened += row.opened_at is not None or row.responded_at is not None
        for row in uow.responses.for_metrics(principal.account_id, campaign.id,
                                             request.date_from, request.date_to):
            if not _matches(row.attributes, filters):
                continue
            category = nps_category(row.nps_score)
            for tally in filter(None, (total, group_of(row.attributes))):
                tally.responded += 1
                tally.answered_invitations += row.invitation_id is not None
                if category:
                    tally.categories[category] += 1
            for key in rating_keys:
                if isinstance(row.answers.get(key), int):
                    ratings.setdefault(key, []).append(row.answers[key])
    # Ordinal attributes report in their defined order, anything else alphabetically.
    order = list(definition.values) if definition is not None and definition.kind == "ordinal" \
        else []
    ranked = sorted(groups, key=lambda v: (v not in order, order.index(v) if v in order else 0, v))
    return m.CampaignMetrics(
        campaign_id=campaign.id, **total.figures(),
        ratings=[m.RatingAverage(key=key, count=len(ratings.get(key, [])),
                                 average=round(sum(ratings[key]) / len(ratings[key]), 2)
                                 if ratings.get(key) else None) for key in rating_keys],
        breakdown=[m.MetricsGroup(value=value, **groups[value].figures()) for value in ranked])


@dataclass
class TrendPoint:
    """One week of responses: when it starts, how many, their NPS and its 95% margin."""

    week: date
    responses: int
    nps: float | None
    margin: float | None = None


def campaign_trend(rt: Runtime, principal: Principal,
                   request: m.GetCampaignMetricsRequest) -> list[TrendPoint]:
    """Responses and NPS per ISO week (Monday), with the same filters as the metrics."""
    principal.require("read")
    filters = _filter_sets(request)
    weeks: dict[date, Tally] = {}
    with rt.uow(replica=True) as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        for row in uow.responses.for_metrics(principal.account_id, campaign.id,
                                             request.date_from, request.date_to):
            if not _matches(row.attributes, filters):
                continue
            day = row.submitted_at.date()
            tally = weeks.setdefault(day - timedelta(days=day.weekday()), Tally())
            tally.responded += 1
            category = nps_category(row.nps_score)
            if category:
                tally.categories[category] += 1
    return [TrendPoint(week, weeks[week].responded, weeks[week].nps, weeks[week].nps_margin)
            for week in sorted(weeks)]


@dataclass
class ViewedResponse:
    """One response as the dashboard lists it: its score, texts, attributes and contact."""

    response_id: int
    submitted_at: datetime
    nps_score: int | None
    category: str | None
    #: The free-text answers given, by question key.
    texts: dict[str, str]
    attributes: dict[str, str]
    contact_id: int | None
    email: str | None


@dataclass
class ResponsesPage:
    """A page of a view's responses, newest first, and how many the view holds."""

    items: list[ViewedResponse]
    total: int
    page: int
    pages: int


def view_responses(rt: Runtime, principal: Principal, request: m.GetCampaignMetricsRequest,
                   category: str | None = None, commented: bool = False
                   ) -> Iterator[ViewedResponse]:
    """The responses GetCampaignMetrics counts for the same request, newest first; only one
    NPS category's, or only those with a free-text answer, on request.

    The contact's email comes with them: the caller holds the read scope of the account.
    """
    principal.require("read")
    filters = _filter_sets(request)
    with rt.uow(replica=True) as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        survey = uow.surveys.get(principal.account_id, campaign.survey_id)
        text_keys = [q.key for q in survey.questions if q.type == "text"]
        for row in uow.responses.for_view(principal.account_id, campaign.id,
                                          request.date_from, request.date_to):
            found = nps_category(row.nps_score)
            if not _matches(row.attributes, filters) or category not in (None, found):
                continue
            texts = {key: text for key in text_keys
                     if (text := str(row.answers.get(key) or "").strip())}
            if commented and not texts:
                continue
            yield ViewedResponse(row.id, row.submitted_at, row.nps_score, found, texts,
                                 dict(row.attributes or {}) if row.erased_at is None else {},
                                 row.contact_id, row.email if row.erased_at is None else None)


def comments_page(rt: Runtime, principal: Principal, request: m.GetCampaignMetricsRequest,
                  category: str | None, page: int, per_page: int) -> ResponsesPage:
    """One page of the free-text answers of a view (see view_responses), newest first."""
    found = list(view_responses(rt, principal, request, category, commented=True))
    pages = max(1, -(-len(found) // per_page))
    page = min(max(page, 1), pages)
    return ResponsesPage(found[(page - 1) * per_page:page * per_page], len(found), page, pages)


@dataclass
class CampaignSummary:
    """A campaign as the account's home page lists it."""

    campaign_id: int
    name: str
    status: str
    metrics: m.CampaignMetrics
    first_response: datetime | None
    last_response: datetime | None


def account_overview(rt: Runtime, principal: Principal) -> list[CampaignSummary]:
    """Every campaign of the account with its GetCampaignMetrics figures and response span."""
    principal.require("read")
    with rt.uow(replica=True) as uow:
        campaigns = uow.campaigns.list(principal.account_id, None, None)
        spans = uow.responses.span(principal.account_id)
    return [CampaignSummary(c.id, c.name, c.status, get_campaign_metrics(
        rt, principal, m.GetCampaignMetricsRequest(campaign_id=c.id)),
        *spans.get(c.id, (None, None))) for c in reversed(campaigns)]


def campaign_span(rt: Runtime, principal: Principal,
                  campaign_id: int) -> tuple[date | None, date | None]:
    """The days of a campaign's first and last invitation or response (None, None before any):
    a period from one to the other counts what the whole campaign counts."""
    principal.require("read")
    with rt.uow(replica=True) as uow:
        campaign = get_campaign_of(uow, principal, campaign_id)
        moments = [*uow.invitations.created_span(principal.account_id, campaign.id),
                   *uow.responses.span(principal.account_id, campaign.id).get(campaign.id, ())]
    days = [moment.date() for moment in moments if moment is not None]
    return (min(days), max(days)) if days else (None, None)
