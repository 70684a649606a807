"""Idempotency under races: callers repeating one request at the same instant make one
effect, and each of them hears a success, a ``duplicate`` row or a Conflict.

Each round uses fresh keys (event ids, emails, a list name, an invitation) and releases
THREADS callers together with a barrier; the rows in the database are counted at the end.
"""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest
from sqlalchemy import func, select

from service.domain.errors import Conflict, DuplicateEvent
from service.services import messages as m
from service.storage.tables import contact_lists, contacts, invitations, list_members, responses
from tests.conftest import call

THREADS = 8
ROUNDS = 30
#: Rows of each bulk call: enough to make its statements multi-row, few enough that a
#: round on SQLite (one writer at a time) stays short.
ROWS = 3
#: The status of a new invitation of a campaign with the default (crm) delivery.
NEW = "sent"


@pytest.fixture
def race():
    """``race(jobs)``: each job run in its own thread, all released together; the outcome
    of each, as ``(kind, value)`` with kind "success", "conflict" or the class name of
    anything else that was raised."""
    with ThreadPoolExecutor(THREADS) as pool:
        def run(jobs: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
            start = threading.Barrier(len(jobs))

            def outcome(job):
                start.wait()
                try:
                    return "success", job()
                except Conflict as error:
                    # DuplicateEvent is the storage's signal to look the event up again:
                    # reaching a caller, it would mean the retry is missing.
                    kind = "DuplicateEvent" if isinstance(error, DuplicateEvent) else "conflict"
                    return kind, error
                except Exception as error:  # noqa: BLE001 - counted, and the test says which
                    return type(error).__name__, error
            return list(pool.map(outcome, jobs))
        yield run


def kinds(outcomes: list[tuple[str, Any]]) -> Counter:
    return Counter(kind for kind, _ in outcomes)


def errors(outcomes: list[tuple[str, Any]]) -> list[str]:
    """What the callers that did not succeed were told (for a failing assertion)."""
    return [f"{kind}: {value!r}" for kind, value in outcomes if kind != "success"]


def count(engine, table, *where) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table).where(*where)
                                  ).scalar_one()


def respondents(round_: int, rows: int = ROWS) -> list[m.Respondent]:
    return [m.Respondent(email=f"r{round_}-{row}@example.com", event_id=f"event-{round_}-{row}")
            for row in range(rows)]


def test_concurrent_repeats_of_add_respondents_invite_each_row_once(rt, admin, new_campaign,
                                                                    race, engine):
    campaign_id = new_campaign()
    seen = Counter()
    for round_ in range(ROUNDS):
        rows = respondents(round_)
        outcomes = race([lambda: call(rt, admin, "AddRespondents", campaign_id=campaign_id,
                                      respondents=rows)] * THREADS)
        assert kinds(outcomes) == {"success": THREADS}, errors(outcomes)
        results = [result for _, answer in outcomes for result in answer.results]
        seen.update(result.status for result in results)
        for row in range(ROWS):
            of_row = [result for result in results if result.row == row]
            assert len({result.invitation_id for result in of_row}) == 1
            assert sorted(result.status for result in of_row) == \
                ["duplicate"] * (THREADS - 1) + [NEW]
    assert seen == {NEW: ROUNDS * ROWS, "duplicate": ROUNDS * ROWS * (THREADS - 1)}
    assert count(engine, invitations, invitations.c.campaign_id == campaign_id) == ROUNDS * ROWS


def test_concurrent_repeats_of_get_tracking_url_make_one_invitation(rt, admin, new_campaign,
                                                                   race, engine):
    campaign_id = new_campaign()
    for round_ in range(ROUNDS):
        email = f"t{round_}@example.com"
        # A known person: the insert of a new contact would line the callers up, and
        # the event id is what must do it.
        call(rt, admin, "UpsertContacts", contacts=[m.ContactRow(email=email)])
        outcomes = race([lambda: call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                                      email=email, event_id=f"ticket-{round_}")] * THREADS)
        assert kinds(outcomes) == {"success": THREADS}, errors(outcomes)
        assert len({(link.invitation_id, link.url) for _, link in outcomes}) == 1
    assert count(engine, invitations, invitations.c.campaign_id == campaign_id) == ROUNDS


def test_concurrent_repeats_of_upsert_contacts_create_each_contact_once(rt, admin, race,
                                                                        engine):
    for round_ in range(ROUNDS):
        rows = [m.ContactRow(email=f"u{round_}-{row}@example.com", crm_id=f"crm-{round_}-{row}")
                for row in range(ROWS)]
        outcomes = race([lambda: call(rt, admin, "UpsertContacts", contacts=rows)] * THREADS)
        assert kinds(outcomes) == {"success": THREADS}, errors(outcomes)
        for row in range(ROWS):
            states = sorted(answer.results[row].status for _, answer in outcomes)
            assert states == ["created"] + ["unchanged"] * (THREADS - 1)
            assert len({answer.results[row].contact_id for _, answer in outcomes}) == 1
    assert count(engine, contacts, contacts.c.email.like("u%@example.com")) == ROUNDS * ROWS


def test_concurrent_repeats_of_sync_list_add_each_member_once(rt, admin, race, engine):
    for round_ in range(ROUNDS):
        name = f"list-{round_}"
        # A list that exists already: its creation no longer lines the callers up.
        call(rt, admin, "SyncList", list_name=name, mode="add",
             contacts=[m.ContactRow(email=f"s{round_}-first@example.com")])
        rows = [m.ContactRow(email=f"s{round_}-{row}@example.com") for row in range(ROWS)]
        outcomes = race([lambda: call(rt, admin, "SyncList", list_name=name, mode="add",
                                      contacts=rows)] * THREADS)
        assert kinds(outcomes) == {"success": THREADS}, errors(outcomes)
        assert sum(answer.added for _, answer in outcomes) == ROWS
        assert {answer.members for _, answer in outcomes} == {1 + ROWS}
    with engine.connect() as connection:
        sizes = connection.execute(
            select(func.count()).select_from(list_members)
            .join(contact_lists, contact_lists.c.id == list_members.c.list_id)
            .group_by(contact_lists.c.name)).scalars().all()
    assert sizes == [1 + ROWS] * ROUNDS


def test_concurrent_answers_to_one_invitation_record_one_response(rt, admin, new_campaign,
                                                                 race, engine):
    campaign_id = new_campaign()
    for round_ in range(ROUNDS):
        invitation_id = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                             email=f"a{round_}@example.com").invitation_id
        outcomes = race([lambda: call(rt, admin, "RecordResponse", invitation_id=invitation_id,
                                      answers=[m.Answer("nps", "9")])] * THREADS)
        assert kinds(outcomes) == {"success": 1, "conflict": THREADS - 1}, errors(outcomes)
    assert count(engine, responses, responses.c.campaign_id == campaign_id) == ROUNDS


def test_bulk_and_single_triggers_of_the_same_events_make_one_invitation_each(
        rt, admin, new_campaign, race, engine):
    campaign_id = new_campaign()
    # Each single trigger takes another row of the bulk calls: a bulk call may then
    # lose the race to them row after row, and must still answer every row.
    bulk_callers, singles = 2, THREADS - 2
    for round_ in range(ROUNDS):
        rows = respondents(round_, singles)
        outcomes = race(
            [lambda: call(rt, admin, "AddRespondents", campaign_id=campaign_id,
                          respondents=rows)] * bulk_callers
            + [lambda row=row: call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                                    email=row.email, event_id=row.event_id) for row in rows])
        assert kinds(outcomes) == {"success": THREADS}, errors(outcomes)
        links = {row.event_id: set() for row in rows}
        for _, answer in outcomes[:bulk_callers]:
            for result in answer.results:
                assert result.status in (NEW, "duplicate")
                links[rows[result.row].event_id].add(result.invitation_id)
        for row, (_, link) in zip(rows, outcomes[bulk_callers:]):
            links[row.event_id].add(link.invitation_id)
        assert all(len(ids) == 1 for ids in links.values()), links
    assert count(engine, invitations,
                 invitations.c.campaign_id == campaign_id) == ROUNDS * singles
