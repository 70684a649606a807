"""Scheduled dumps and recurrences are claimed: with several workers, one of them does each."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from service.domain.credentials import Credentials
from service.services import messages as m
from service.services.delivery import claim_mail, run_recurrences
from service.services.keys import authenticate, create_account_key
from service.services.outbox import claim_outbox
from service.services.dumps import run_scheduled_dumps
from service.services.surveys import SCHEDULED_LEASE, claim_scheduled
from service.storage.tables import invitations
from tests.conftest import call, create_campaign
from tests.integration.test_scheduled_dumps import campaign_with_answers

WORKERS = 4


def in_parallel(job, workers: int = WORKERS) -> list:
    """What ``job()`` returned in each of ``workers`` threads started together."""
    start = threading.Barrier(workers)
    results: list = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(job())
        except BaseException as error:  # surfaced in the test's thread below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def due_dump(rt, campaign_id):
    with rt.uow(read_only=True) as uow:
        [campaign] = [c for c in uow.campaigns.due_dumps(rt.clock()) if c.id == campaign_id]
    return campaign


def test_a_due_dump_read_by_two_workers_is_claimed_by_one(rt, admin, clock):
    campaign_id = campaign_with_answers(rt, admin, 1, dump_every="daily", dump_at="10:00")
    clock.now = clock.now.replace(hour=10)
    first, second = due_dump(rt, campaign_id), due_dump(rt, campaign_id)
    lease = clock.now + SCHEDULED_LEASE
    assert claim_scheduled(rt, first, "next_dump_at", first.next_dump_at, lease)
    assert not claim_scheduled(rt, second, "next_dump_at", second.next_dump_at, lease)


def test_several_workers_write_each_due_dump_once(rt, admin, clock):
    campaigns = [campaign_with_answers(rt, admin, 2, dump_every="daily", dump_at="10:00")
                 for _ in range(3)]
    clock.now = clock.now.replace(hour=10)
    assert sum(in_parallel(lambda: run_scheduled_dumps(rt))) == 3
    dumps = call(rt, admin, "ListDumps").dumps
    assert sorted(d.campaign_id for d in dumps) == campaigns
    assert sorted(p.name for p in rt.dump_store.path(admin.account_id, "x").parent.iterdir()) \
        == sorted([d.name for d in dumps] + [d.name + ".manifest.json" for d in dumps])


def test_a_dump_whose_worker_died_is_written_by_another_once_the_lease_is_over(rt, admin, clock):
    campaign_id = campaign_with_answers(rt, admin, 2, dump_every="daily", dump_at="10:00")
    clock.now = clock.now.replace(hour=10)
    campaign = due_dump(rt, campaign_id)
    assert claim_scheduled(rt, campaign, "next_dump_at", campaign.next_dump_at,
                           clock.now + SCHEDULED_LEASE)   # and the claiming worker dies
    assert run_scheduled_dumps(rt) == 0
    clock.advance(seconds=SCHEDULED_LEASE.total_seconds())
    assert run_scheduled_dumps(rt) == 1
    [dump] = call(rt, admin, "ListDumps", campaign_id=campaign_id).dumps
    assert dump.rows == 2
    assert run_scheduled_dumps(rt) == 0


def test_a_dump_finished_after_its_lease_was_taken_over_is_not_recorded_twice(rt, admin, clock):
    campaign_with_answers(rt, admin, 1, dump_every="daily", dump_at="10:00")
    clock.now = clock.now.replace(hour=10)
    store = rt.dump_store
    original = store.new_file
    overtaken: list[int] = []

    def slow_new_file(account_id, name):
        # While the first worker writes, its lease runs out and a second worker does it all.
        if not overtaken:
            overtaken.append(1)
            clock.advance(seconds=SCHEDULED_LEASE.total_seconds())
            assert run_scheduled_dumps(rt) == 1
        return original(account_id, name)

    store.new_file = slow_new_file
    assert run_scheduled_dumps(rt) == 0
    assert len(call(rt, admin, "ListDumps").dumps) == 1


def test_several_workers_run_each_recurrence_once(rt, admin, clock, new_campaign, engine):
    call(rt, admin, "SyncList", list_name="customers", mode="add",
         contacts=[m.ContactRow(email=f"c{i}@example.com") for i in range(5)])
    campaign_id = new_campaign(recurrence_days=30, recurrence_list="customers")
    assert sum(in_parallel(lambda: run_recurrences(rt))) == 5
    clock.advance(days=30)
    assert sum(in_parallel(lambda: run_recurrences(rt))) == 5
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).where(
            invitations.c.campaign_id == campaign_id)).scalar() == 10


def test_a_recurrence_whose_worker_died_runs_again_once_the_lease_is_over(rt, admin, clock,
                                                                          new_campaign):
    call(rt, admin, "SyncList", list_name="customers", mode="add",
         contacts=[m.ContactRow(email="c@example.com")])
    new_campaign(recurrence_days=30, recurrence_list="customers")
    with rt.uow(read_only=True) as uow:
        [campaign] = uow.campaigns.recurring(clock.now)
    assert claim_scheduled(rt, campaign, "last_recurrence_at", None,
                           clock.now + SCHEDULED_LEASE - timedelta(days=30))
    assert run_recurrences(rt) == 0
    clock.advance(seconds=SCHEDULED_LEASE.total_seconds())
    assert run_recurrences(rt) == 1
    assert run_recurrences(rt) == 0


def test_mail_and_deliveries_are_claimed_account_by_account_up_to_the_batch(rt, admin, clock):
    key = create_account_key(rt, "other", ["admin"])
    other = authenticate(rt, Credentials(key.key_id, key.secret))
    for principal in (admin, other):
        campaign_id = create_campaign(rt, principal, delivery="email")
        call(rt, principal, "AddRespondents", campaign_id=campaign_id,
             respondents=[m.Respondent(email=f"p{i}@example.com") for i in range(2)])
        with rt.uow() as uow:
            uow.outbox.add_many(principal.account_id, [
                {"kind": "webhook", "event": "e", "target": "http://127.0.0.1:9/",
                 "payload": {}, "idempotency_key": f"{principal.account_id}-{i}"}
                for i in range(2)], clock.now)
            uow.commit()
    clock.advance(hours=1)
    first, second = claim_mail(rt, "w", 3), claim_mail(rt, "w", 3)
    assert [j.account_id for j in first] == [admin.account_id] * 2 + [other.account_id]
    assert [j.account_id for j in second] == [other.account_id]
    first, second = claim_outbox(rt, "w", 3), claim_outbox(rt, "w", 3)
    assert [j.account_id for j in first] == [admin.account_id] * 2 + [other.account_id]
    assert [j.account_id for j in second] == [other.account_id]
