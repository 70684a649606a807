"""Scheduled dumps: the worker writes files and manifests, ListDumps and /exports/files serve them."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from service.domain.credentials import Credentials
from service.domain.distribution import next_dump_time
from service.services import messages as m
from service.services import dumps as dump_service
from service.services.dumps import run_scheduled_dumps
from service.services.keys import authenticate
from service.services.surveys import SCHEDULED_LEASE
from tests.conftest import call

UTC = timezone.utc


@pytest.mark.parametrize("every, at, after, expected", [
    ("daily", "02:00", datetime(2026, 11, 2, 1, 0, tzinfo=UTC), datetime(2026, 11, 2, 2, 0, tzinfo=UTC)),
    ("daily", "02:00", datetime(2026, 11, 2, 2, 0, tzinfo=UTC), datetime(2026, 11, 3, 2, 0, tzinfo=UTC)),
    ("weekly", "23:30", datetime(2026, 11, 4, 9, 0, tzinfo=UTC), datetime(2026, 11, 9, 23, 30, tzinfo=UTC)),
    # on a Monday, later that day; seconds and fractions of the moment are dropped
    ("weekly", "23:30", datetime(2026, 11, 9, 9, 0, tzinfo=UTC), datetime(2026, 11, 9, 23, 30, tzinfo=UTC)),
    ("daily", "02:00", datetime(2026, 11, 2, 1, 0, 30, 250, tzinfo=UTC),
     datetime(2026, 11, 2, 2, 0, tzinfo=UTC)),
    ("", "02:00", datetime(2026, 11, 4, 9, 0, tzinfo=UTC), None),
])
def test_next_dump_time(every, at, after, expected):
    assert next_dump_time(every, at, after) == expected


def campaign_with_answers(rt, admin, n, **settings):
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
                       **settings).campaign_id
    answer(rt, admin, campaign_id, n)
    return campaign_id


def answer(rt, admin, campaign_id, n, start=0):
    for i in range(start, start + n):
        link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                    email=f"p{i}@example.com")
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", str(i % 11))])


def test_nightly_dump_is_written_listed_and_next_night_has_only_the_new(rt, admin, clock):
    campaign_id = campaign_with_answers(rt, admin, 3, dump_every="daily", dump_at="02:00",
                                        dump_format="jsonl", dump_gzip=True)
    assert run_scheduled_dumps(rt) == 0            # 09:00: the first is due tomorrow 02:00
    clock.now = clock.now.replace(day=3, hour=2)
    assert run_scheduled_dumps(rt) == 1
    assert run_scheduled_dumps(rt) == 0            # done for tonight
    answer(rt, admin, campaign_id, 2, start=3)
    clock.now = clock.now.replace(day=4, hour=2, minute=5)
    assert run_scheduled_dumps(rt) == 1
    dumps = call(rt, admin, "ListDumps", campaign_id=campaign_id).dumps
    assert [(d.rows, d.cursor_from) for d in dumps] == [(2, dumps[1].cursor_to), (3, "0")]
    newest = dumps[0]
    assert newest.name == "campaign-%d-20261104T020500Z.jsonl.gz" % campaign_id
    path = rt.dump_store.path(admin.account_id, newest.name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == newest.sha256
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 2
    manifest = json.loads(path.with_name(newest.name + ".manifest.json").read_text())
    assert manifest == {"file": newest.name, "format": "jsonl", "gzip": True,
                        "campaign_id": campaign_id, "cursor_name": "scheduled",
                        "cursor_from": newest.cursor_from, "cursor_to": newest.cursor_to,
                        "rows": 2, "size": path.stat().st_size, "sha256": newest.sha256,
                        "created_at": "2026-11-04T02:05:00Z"}
    assert newest.url == f"http://feedloop.test/exports/files/{newest.name}"


def test_dump_files_are_served_to_the_account_only(app, key, web, clock):
    rt = app.runtime
    admin = authenticate(rt, Credentials(*key))
    campaign_with_answers(rt, admin, 2, dump_every="daily", dump_at="10:00")
    clock.now = clock.now.replace(hour=10)
    run_scheduled_dumps(rt)
    [listed] = call(rt, admin, "ListDumps").dumps
    data = web.get(f"/exports/files/{listed.name}")
    assert hashlib.sha256(data.body).hexdigest() == listed.sha256
    assert data.body.decode().count("\r\n") == 3
    assert web.get(f"/exports/files/{listed.name}.manifest.json").json["rows"] == 2
    from service.services.keys import create_account_key
    other = create_account_key(rt, "other", ["read"])
    web.authorization = ("Basic", (other.key_id, other.secret))
    web.get(f"/exports/files/{listed.name}", status=404)
    web.get("/exports/files/../../etc/passwd", status=404)


def test_manifest_describes_the_file_completely(rt, admin, clock):
    campaign_id = campaign_with_answers(rt, admin, 2, dump_every="daily", dump_at="10:00",
                                        dump_format="csv")
    clock.now = clock.now.replace(hour=10)
    assert run_scheduled_dumps(rt) == 1
    [listed] = call(rt, admin, "ListDumps", campaign_id=campaign_id).dumps
    name = f"campaign-{campaign_id}-20261102T100000Z.csv"
    path = rt.dump_store.path(admin.account_id, name)
    text = path.with_name(name + ".manifest.json").read_text()
    assert text.startswith('{\n  "file": ') and text.endswith("}\n")
    assert json.loads(text) == {
        "file": name, "format": "csv", "gzip": False, "campaign_id": campaign_id,
        "cursor_name": "scheduled", "cursor_from": "0", "cursor_to": listed.cursor_to, "rows": 2,
        "size": path.stat().st_size, "sha256": listed.sha256,
        "created_at": "2026-11-02T10:00:00Z"}


def test_a_scheduled_csv_dump_holds_each_answer_in_its_question_column(rt, admin, clock):
    campaign_id = campaign_with_answers(rt, admin, 2, dump_every="daily", dump_at="10:00",
                                        dump_format="csv")
    clock.now = clock.now.replace(hour=10)
    run_scheduled_dumps(rt)
    [listed] = call(rt, admin, "ListDumps", campaign_id=campaign_id).dumps
    data = rt.dump_store.path(admin.account_id, listed.name).read_text(encoding="utf-8")
    header, *rows = csv.reader(io.StringIO(data, newline=""))
    assert sorted(row[header.index("q.nps")] for row in rows) == ["0", "1"]


def two_due_campaigns(rt, admin, clock) -> list[int]:
    """Two campaigns with an answer each whose daily dump is due now (10:00)."""
    ids = [campaign_with_answers(rt, admin, 0, dump_every="daily", dump_at="10:00")
           for _ in range(2)]
    for start, campaign_id in enumerate(ids):
        answer(rt, admin, campaign_id, 1, start=start)
    clock.now = clock.now.replace(hour=10)
    return ids


def dumped_campaigns(rt, admin) -> list[int]:
    return sorted(d.campaign_id for d in call(rt, admin, "ListDumps").dumps)


def test_one_run_dumps_every_due_campaign_and_counts_them(rt, admin, clock):
    ids = two_due_campaigns(rt, admin, clock)
    assert run_scheduled_dumps(rt) == 2
    assert dumped_campaigns(rt, admin) == sorted(ids)


def test_a_campaign_another_worker_claimed_first_is_left_to_it_and_the_next_one_dumped(
        rt, admin, clock, monkeypatch):
    ids = two_due_campaigns(rt, admin, clock)
    claim = dump_service.claim_scheduled
    beaten = []

    def another_worker_first(rt, campaign, column, seen, value):
        if not beaten:  # the first campaign of the run: the other worker's claim lands first
            beaten.append(campaign.id)
            assert claim(rt, campaign, column, seen, value + timedelta(minutes=1))
        return claim(rt, campaign, column, seen, value)

    monkeypatch.setattr(dump_service, "claim_scheduled", another_worker_first)
    assert run_scheduled_dumps(rt) == 1
    assert dumped_campaigns(rt, admin) == [i for i in ids if i not in beaten]


def test_a_dump_whose_claim_was_taken_over_while_writing_is_not_listed_and_the_run_goes_on(
        rt, admin, clock, monkeypatch):
    ids = two_due_campaigns(rt, admin, clock)
    claim = dump_service.claim_scheduled
    taken_over = []

    def lease_lost_while_writing(rt, campaign, column, seen, value):
        claimed = claim(rt, campaign, column, seen, value)
        if not taken_over:  # the lease runs out mid-dump and another worker claims it anew
            taken_over.append(campaign.id)
            assert claim(rt, campaign, column, value, value + SCHEDULED_LEASE)
        return claimed

    monkeypatch.setattr(dump_service, "claim_scheduled", lease_lost_while_writing)
    assert run_scheduled_dumps(rt) == 1
    assert dumped_campaigns(rt, admin) == [i for i in ids if i not in taken_over]
    unlisted = f"campaign-{taken_over[0]}-20261102T100000Z.csv"
    assert rt.dump_store.path(admin.account_id, unlisted).exists()
    assert dump_service.open_dump_file(rt, admin, unlisted) is None   # written, never served


def test_a_dump_that_failed_midway_is_repeated_once_its_lease_is_over(rt, admin, clock,
                                                                       monkeypatch):
    campaign_id = campaign_with_answers(rt, admin, 1, dump_every="daily", dump_at="10:00")
    clock.now = clock.now.replace(hour=10)

    def disk_full(account_id, name):
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(rt.dump_store, "new_file", disk_full)
        with pytest.raises(OSError):
            run_scheduled_dumps(rt)
    assert run_scheduled_dumps(rt) == 0   # the failed worker's claim holds for its lease
    clock.advance(seconds=SCHEDULED_LEASE.total_seconds() - 1)
    assert run_scheduled_dumps(rt) == 0
    clock.advance(seconds=1)
    assert run_scheduled_dumps(rt) == 1
    assert dumped_campaigns(rt, admin) == [campaign_id]
