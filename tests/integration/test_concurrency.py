"""Concurrent callers: repeated events stay idempotent, exports miss and repeat nothing."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import call
from service.services import messages as m
from service.services.runtime import utc_now
from tests.support.conditions import Background


def test_concurrent_repeats_of_one_event_create_one_invitation(rt, admin, new_campaign):
    rt.clock = utc_now
    campaign_id = new_campaign()
    barrier = threading.Barrier(8)

    def trigger(_):
        barrier.wait()
        return call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                    email="same@example.com", event_id="ticket-42-closed")

    with ThreadPoolExecutor(8) as pool:
        links = list(pool.map(trigger, range(8)))
    assert len({(link.invitation_id, link.url) for link in links}) == 1


def test_export_while_responses_arrive_returns_each_exactly_once(rt, admin, new_campaign):
    rt.clock = utc_now
    campaign_id = new_campaign()
    links = [call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                  email=f"p{i}@example.com").invitation_id for i in range(60)]
    done = threading.Event()
    exported: list[int] = []

    def export_until_done():
        cursor = None
        while True:
            finished = done.is_set()
            page = call(rt, admin, "ExportResponses", campaign_id=campaign_id, after=cursor,
                        limit=7)
            exported.extend(r.response_id for r in page.records)
            cursor = page.next_cursor
            if finished and not page.has_more:
                return
            # Page on while the writers run, without taking every turn of the GIL from
            # them (under coverage tracing a tight loop starved the writers past
            # SQLite's 15 s busy timeout).
            done.wait(0.005)

    def answer(invitation_id):
        return call(rt, admin, "RecordResponse", invitation_id=invitation_id,
                    answers=[m.Answer("nps", str(invitation_id % 11))]).response_id

    reader = Background(export_until_done)
    try:
        with ThreadPoolExecutor(6) as pool:
            recorded = list(pool.map(answer, links))
    finally:
        done.set()  # a failed answer must not leave the reader exporting for ever
    reader.result(timeout=60)
    assert sorted(exported) == sorted(recorded)
    assert len(exported) == len(set(exported)) == 60
