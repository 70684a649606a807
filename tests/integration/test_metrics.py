"""Campaign metrics against a hand-computed fixture (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from service.services import messages as m
from tests.conftest import call

# contact -> (region, nps, speed); None: invited, never answered
PEOPLE = {"a": ("north", 10, 5), "b": ("north", 7, 4), "c": ("north", None, None),
          "d": ("south", 3, 1), "e": ("south", 9, None), "f": (None, None, None)}


@pytest.fixture
def campaign_id(rt, admin, clock):
    call(rt, admin, "DefineAttribute", name="region", kind="ordinal",
         values=["north", "south", "east"])
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en", questions=[
        m.Question(key="nps", type="nps", text="?"),
        m.Question(key="speed", type="rating", text="?", min=1, max=5)]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c").campaign_id
    rows = [m.Respondent(email=f"{name}@example.com",
                         attributes=[m.Attribute("region", region)] if region else [])
            for name, (region, _, _) in PEOPLE.items()]
    links = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=rows).results
    for link, (name, (_, nps, speed)) in zip(links, PEOPLE.items()):
        clock.advance(days=1)
        if nps is not None:
            answers = [m.Answer("nps", str(nps))] + ([m.Answer("speed", str(speed))] if speed else [])
            call(rt, admin, "RecordResponse", invitation_id=link.invitation_id, answers=answers)
    return campaign_id


def figures(group) -> tuple:
    return (group.invited, group.sent, group.responded, group.response_rate, group.nps,
            group.promoters, group.passives, group.detractors)


def test_totals_nps_and_rating_averages(rt, admin, campaign_id):
    metrics = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id)
    assert figures(metrics) == (6, 6, 4, 0.6667, 25.0, 2, 1, 1)
    [speed] = metrics.ratings
    assert (speed.key, speed.count, speed.average) == ("speed", 3, 3.33)


def test_breakdown_follows_the_ordinal_order(rt, admin, campaign_id):
    metrics = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id, breakdown="region")
    assert [(g.value, *figures(g)) for g in metrics.breakdown] == [
        ("north", 3, 3, 2, 0.6667, 50.0, 1, 1, 0),
        ("south", 2, 2, 2, 1.0, 0.0, 1, 0, 1),
        ("", 1, 1, 0, 0.0, None, 0, 0, 0)]


def test_filters_take_several_values_per_attribute(rt, admin, campaign_id):
    south = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id,
                 filters=[m.AttributeFilter("region", ["south"])])
    assert figures(south) == (2, 2, 2, 1.0, 0.0, 1, 0, 1)
    both = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id,
                filters=[m.AttributeFilter("region", ["south", "north"])])
    assert figures(both) == (5, 5, 4, 0.8, 25.0, 2, 1, 1)


def test_date_range_limits_responses_to_their_submission_time(rt, admin, campaign_id, clock):
    start = clock.now - timedelta(days=6)   # the invitations' creation time
    early = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id, date_from=start,
                 date_to=start + timedelta(days=2, hours=1))
    assert (early.invited, early.responded, early.promoters, early.passives) == (6, 2, 1, 1)
    later = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id,
                 date_from=start + timedelta(hours=1))
    assert (later.invited, later.responded) == (0, 4)
