"""The trigger rules of GetTrackingUrl and AddRespondents on the in-memory unit of work."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from service.domain.distribution import Campaign
from service.domain.errors import (Conflict, DuplicateEvent, Quarantined, UnknownCampaign,
                                   Unsubscribed, ValidationError)
from service.services import messages as m
from service.services.catalogue import Principal
from service.services.distribution import add_respondents
from service.services.runtime import Runtime
from service.services.tracking import get_tracking_url, once_per_event
from tests.support.fakes import FakeUnitOfWork

ACME = Principal(1, "fl_test", frozenset({"trigger"}))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def rt(uow, clock) -> Runtime:
    return Runtime(uow=uow, secret_key=b"k", base_url="http://feedloop.test", clock=clock)


def campaign(uow: FakeUnitOfWork, campaign_id: int = 10, **settings) -> Campaign:
    found = Campaign(survey_id=1, name="c", id=campaign_id, account_id=ACME.account_id,
                     **settings)
    uow.campaigns.rows[campaign_id] = found
    return found


def link(rt, email: str = "ana@example.com", campaign_id: int = 10, **fields) -> m.TrackingUrl:
    return get_tracking_url(rt, ACME, m.GetTrackingUrlRequest(campaign_id=campaign_id,
                                                              email=email, **fields))


def add(rt, *emails: str, campaign_id: int = 10) -> list[m.RespondentResult]:
    return add_respondents(rt, ACME, m.AddRespondentsRequest(
        campaign_id=campaign_id, respondents=[m.Respondent(email=e) for e in emails])).results


def test_a_repeated_event_id_returns_the_first_link_and_stores_nothing_new(rt, uow):
    campaign(uow)
    first = link(rt, event_id="ticket-1")
    again = link(rt, event_id="ticket-1")
    assert again.url == first.url and again.invitation_id == first.invitation_id
    assert len(uow.invitations.rows) == 1


@pytest.mark.parametrize("change", ["paused", "quarantine", "unsubscribed", "other params"])
def test_a_retried_link_call_answers_with_the_first_link_whatever_changed_since(rt, uow,
                                                                                 change):
    """The first try takes the event id as new; a refusal or the unique key sends it to
    look the event up, so a retry still answers as the first call did."""
    campaign(uow)
    first = link(rt, event_id="ticket-1")
    params = []
    if change == "paused":
        uow.campaigns.rows[10].status = "paused"
    elif change == "quarantine":
        uow.campaigns.rows[10].quarantine_days = 30
        params = [m.Param("n", "2")]          # not the open send: quarantine applies
    elif change == "unsubscribed":
        uow.contacts.unsubscribe(ACME.account_id, "ana@example.com")
    else:
        params = [m.Param("n", "2")]
    again = link(rt, event_id="ticket-1", params=params)
    assert (again.url, again.invitation_id) == (first.url, first.invitation_id)
    assert len(uow.invitations.rows) == 1


def test_a_refused_new_event_is_still_refused(rt, uow):
    campaign(uow, status="paused")
    with pytest.raises(Conflict, match="paused"):
        link(rt, event_id="ticket-1")


def test_an_event_id_used_for_another_email_is_a_conflict(rt, uow):
    campaign(uow)
    link(rt, "ana@example.com", event_id="ticket-1")
    with pytest.raises(Conflict, match="another email"):
        link(rt, "bo@example.com", event_id="ticket-1")


def test_an_open_link_is_handed_out_again_for_the_same_parameters(rt, uow, clock):
    campaign(uow)
    first = link(rt)
    clock.advance(hours=1)
    assert link(rt).url == first.url
    assert link(rt, params=[m.Param("ticket", "T-2")]).url != first.url


@pytest.mark.parametrize("after, refused", [
    (timedelta(days=30) - timedelta(seconds=1), True),
    (timedelta(days=30), False)])
def test_quarantine_of_a_link_ends_exactly_after_its_days(rt, uow, clock, after, refused):
    campaign(uow, quarantine_days=30)
    link(rt, params=[m.Param("n", "1")])
    clock.advance(seconds=after.total_seconds())
    if refused:
        with pytest.raises(Quarantined) as caught:
            link(rt, params=[m.Param("n", "2")])
        assert caught.value.details["until"] == datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    else:
        assert link(rt, params=[m.Param("n", "2")]).status == "sent"


@pytest.mark.parametrize("after, status", [
    (timedelta(days=30) - timedelta(seconds=1), "suppressed"),
    (timedelta(days=30), "sent")])
def test_quarantine_of_a_bulk_row_ends_exactly_after_its_days(rt, uow, clock, after, status):
    campaign(uow, quarantine_days=30)
    add(rt, "ana@example.com")
    clock.advance(seconds=after.total_seconds())
    [result] = add(rt, "ana@example.com")
    assert result.status == status
    if status == "suppressed":
        assert result.until == datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("scope, refused", [("campaign", False), ("account", True)])
def test_account_wide_quarantine_counts_invitations_of_other_campaigns(rt, uow, scope,
                                                                        refused):
    campaign(uow, 10)
    campaign(uow, 11, quarantine_days=30, quarantine_scope=scope)
    link(rt, campaign_id=10)
    if refused:
        with pytest.raises(Quarantined, match="any campaign"):
            link(rt, campaign_id=11)
    else:
        link(rt, campaign_id=11)
    assert [r.status for r in add(rt, "ana@example.com", campaign_id=11)] == ["suppressed"]
    statuses = [r.status for r in add(rt, "bo@example.com", campaign_id=11)]
    assert statuses == ["sent"]


def test_an_unsubscribed_person_gets_no_link_and_no_invitation(rt, uow):
    campaign(uow)
    link(rt, "ana@example.com")
    uow.contacts.unsubscribe(ACME.account_id, "ana@example.com")
    with pytest.raises(Unsubscribed):
        link(rt, "ana@example.com", params=[m.Param("n", "2")])
    result = add(rt, "ana@example.com")
    assert [(r.status, r.reason) for r in result] == [("suppressed", "unsubscribed")]


def test_the_same_person_twice_in_one_call_is_quarantined_the_second_time(rt, uow):
    campaign(uow, quarantine_days=1)
    results = add(rt, "ana@example.com", "ana@example.com", "bo@example.com")
    assert [r.status for r in results] == ["sent", "suppressed", "sent"]
    assert results[1].reason == "quarantine"


def test_another_accounts_campaign_is_unknown(rt, uow):
    other = campaign(uow, 12)
    other.account_id = 2
    with pytest.raises(UnknownCampaign):
        link(rt, campaign_id=12)


def test_a_bulk_call_commits_in_batches_with_the_same_verdicts_as_one_transaction(
        rt, uow, monkeypatch):
    import service.services.distribution as distribution
    monkeypatch.setattr(distribution, "BATCH_ROWS", 2)
    campaign(uow, quarantine_days=1)
    rows = [m.Respondent(email="a@example.com", event_id="e1"),
            m.Respondent(email="b@example.com"),
            m.Respondent(email="a@example.com", event_id="e2"),   # next batch: quarantined
            m.Respondent(email="c@example.com", event_id="e1"),   # repeats row 0
            m.Respondent(email="not-an-email"),
            m.Respondent(email="d@example.com")]
    result = add_respondents(rt, ACME, m.AddRespondentsRequest(campaign_id=10,
                                                               respondents=rows))
    assert [r.status for r in result.results] == ["sent", "sent", "suppressed", "duplicate",
                                                  "invalid", "sent"]
    assert result.results[3].invitation_id == result.results[0].invitation_id
    assert (result.sent, result.suppressed, result.duplicate, result.invalid) == (3, 1, 1, 1)
    assert uow.commits == 2  # rows 0, 1 | 2, 5 (row 3 repeats an event, row 4 is invalid)


def test_a_bulk_call_of_invalid_rows_still_checks_the_campaign(rt, uow):
    with pytest.raises(UnknownCampaign):
        add_respondents(rt, ACME, m.AddRespondentsRequest(
            campaign_id=99, respondents=[m.Respondent(email="not-an-email")]))


@pytest.mark.parametrize("settings", [{}, {"quarantine_days": 30}, {"status": "paused"}])
def test_a_retried_bulk_call_answers_every_row_as_a_duplicate_of_the_first(rt, uow, settings):
    campaign(uow)
    rows = [m.Respondent(email=f"p{i}@example.com", event_id=f"e{i}") for i in range(3)]
    request = m.AddRespondentsRequest(campaign_id=10, respondents=rows)
    first = add_respondents(rt, ACME, request)
    for name, value in settings.items():
        setattr(uow.campaigns.rows[10], name, value)
    again = add_respondents(rt, ACME, request)
    assert [r.status for r in again.results] == ["duplicate"] * 3
    assert [(r.invitation_id, r.url) for r in again.results] == \
        [(r.invitation_id, r.url) for r in first.results]
    assert len(uow.invitations.rows) == 3


def test_a_parameter_given_twice_is_refused_naming_it_and_the_field(rt, uow):
    campaign(uow)
    with pytest.raises(ValidationError) as refused:
        link(rt, params=[m.Param("n", "1"), m.Param("n", "2")])
    assert (refused.value.message, refused.value.field) == ("'n' is given twice in params.",
                                                            "params")


@pytest.mark.parametrize("field", ["params", "attributes"])
def test_a_bulk_row_with_a_name_given_twice_is_invalid_with_the_reason(rt, uow, field):
    campaign(uow)
    pairs = [m.Param("n", "1"), m.Param("n", "2")] if field == "params" else \
        [m.Attribute("n", "1"), m.Attribute("n", "2")]
    result = add_respondents(rt, ACME, m.AddRespondentsRequest(campaign_id=10, respondents=[
        m.Respondent(email="Ana@Example.com", **{field: pairs})])).results
    assert [(r.status, r.email, r.reason) for r in result] == [
        ("invalid", "Ana@Example.com", f"'n' is given twice in {field}.")]


def test_every_bulk_verdict_names_the_person_and_says_why(rt, uow):
    campaign(uow, quarantine_days=1)
    add(rt, "bo@example.com")
    rows = [m.Respondent(email="Ana@Example.com", event_id="e1"),
            m.Respondent(email="bo@example.com")]
    first = add_respondents(rt, ACME, m.AddRespondentsRequest(campaign_id=10,
                                                              respondents=rows)).results
    again = add_respondents(rt, ACME, m.AddRespondentsRequest(campaign_id=10,
                                                              respondents=rows[:1])).results
    assert [(r.status, r.email) for r in first] == [("sent", "ana@example.com"),
                                                    ("suppressed", "bo@example.com")]
    assert (again[0].status, again[0].email, again[0].reason) == (
        "duplicate", "ana@example.com", "event_id 'e1' was already received.")


def test_the_history_of_a_new_invitation_says_which_call_made_it(rt, uow, clock):
    campaign(uow)
    made = link(rt, "ana@example.com")
    [row] = add(rt, "bo@example.com")
    assert (made.invitation_id, clock.now, "created", "GetTrackingUrl") in uow.invitations.events
    assert (row.invitation_id, clock.now, "created", "AddRespondents") in uow.invitations.events


def test_a_campaign_quarantine_names_the_campaign_and_when_it_ends(rt, uow):
    campaign(uow, quarantine_days=30)
    link(rt, params=[m.Param("n", "1")])
    with pytest.raises(Quarantined) as refused:
        link(rt, params=[m.Param("n", "2")])
    assert refused.value.message == ("ana@example.com was invited by campaign 10 on "
                                     "2026-11-02 09:00 UTC; the 30-day quarantine ends "
                                     "2026-12-02T09:00:00Z.")


def test_an_event_id_of_another_email_is_refused_with_a_plain_message(rt, uow):
    campaign(uow)
    link(rt, "ana@example.com", event_id="ticket-1")
    with pytest.raises(Conflict) as refused:
        link(rt, "bo@example.com", event_id="ticket-1")
    assert refused.value.message == ("event_id 'ticket-1' was already used for another email "
                                     "in this campaign.")


def test_links_that_expire_are_handed_out_again_while_valid_and_reported_expired_after(
        rt, uow, clock):
    campaign(uow, link_valid_days=2)
    first = link(rt, event_id="ticket-1")
    clock.advance(days=1)
    assert link(rt).url == first.url  # still open: the same link
    clock.advance(days=2)
    repeated = link(rt, event_id="ticket-1")
    assert (repeated.url, repeated.status) == (first.url, "expired")


def losing(times: int, tries: list[bool]):
    """An attempt that loses the event-id race ``times`` times, noting each look-up flag."""
    def attempt(look_up: bool) -> str:
        tries.append(look_up)
        if len(tries) <= times:
            raise DuplicateEvent("recorded concurrently")
        return "done"
    return attempt


def test_an_event_path_looks_event_ids_up_only_after_losing_a_race():
    uncontested, contested = [], []
    assert once_per_event(losing(0, uncontested), 3) == "done"
    assert once_per_event(losing(3, contested), 3) == "done"
    assert uncontested == [False]
    assert contested == [False, True, True, True]


def test_an_event_path_tries_once_more_than_it_has_event_ids_after_a_look_up_then_gives_up():
    # Each lost look-up means one more of the event ids was recorded: past their number,
    # losing again is no race but a fault, and it is not retried for ever.
    last_chance, hopeless = [], []
    assert once_per_event(losing(4, last_chance), 3) == "done"
    with pytest.raises(DuplicateEvent):
        once_per_event(losing(5, hopeless), 3)
    assert hopeless == [False, True, True, True, True]
