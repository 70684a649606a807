"""Campaign metrics: counts, response rate, NPS and rating averages, filtered and broken down."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from service.domain.errors import UnknownCampaign, ValidationError
from service.domain.surveys import nps_category
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

    def figures(self) -> dict:
        return {"invited": self.invited, "sent": self.sent, "opened": self.opened,
                "responded": self.responded, "response_rate": self.response_rate,
                "nps": self.nps, "promoters": self.categories["promoter"],
                "passives": self.categories["passive"],
                "detractors": self.categories["detractor"]}


def _matches(attributes: dict | None, filters: dict[str, set[str]]) -> bool:
    attributes = attributes or {}
    return all(attributes.get(name) in values for name, values in filters.items())


@operation("GetCampaignMetrics", scope="read", audited=False,
           errors=(UnknownCampaign, ValidationError))
def get_campaign_metrics(rt: Runtime, principal: Principal,
                         request: m.GetCampaignMetricsRequest) -> m.CampaignMetrics:
    """Sent, opened, responded, response rate, NPS and rating averages; filters and a breakdown."""
    filters: dict[str, set[str]] = {}
    for item in request.filters:
        filters.setdefault(item.name, set()).update(item.values)
    total = Tally()
    groups: dict[str, Tally] = {}
    ratings: dict[str, list[int]] = {}

    def group_of(attributes: dict | None) -> Tally | None:
        if request.breakdown is None:
            return None
        value = (attributes or {}).get(request.breakdown, NO_VALUE)
        return groups.setdefault(value, Tally())

    with rt.uow(read_only=True) as uow:
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
                tally.opened += row.opened_at is not None
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
    """One week of responses: when it starts, how many, and their NPS."""

    week: date
    responses: int
    nps: float | None


def campaign_trend(rt: Runtime, principal: Principal,
                   request: m.GetCampaignMetricsRequest) -> list[TrendPoint]:
    """Responses and NPS per ISO week (Monday), with the same filters as the metrics."""
    filters: dict[str, set[str]] = {}
    for item in request.filters:
        filters.setdefault(item.name, set()).update(item.values)
    weeks: dict[date, Tally] = {}
    with rt.uow(read_only=True) as uow:
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
    return [TrendPoint(week, weeks[week].responded, weeks[week].nps) for week in sorted(weeks)]
