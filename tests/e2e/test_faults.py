"""Faults under load, with real processes: kill -9 of gunicorn's workers and master, a
PostgreSQL crash and restart, a webhook receiver and an SMTP server down then up while a
`feedloop worker` is killed mid-delivery.

Each ledger test prints one line (pytest -s shows it; test-artifacts/fault-ledgers.txt
keeps it): calls, acknowledged, lost, duplicated, and the answers by kind.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
import xmlrpc.client
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from service.services import messages as m
from service.services.runtime import utc_now
from service.storage.engine import make_engine
from service.storage.tables import invitations, outbox
from tests.conftest import ARTIFACTS, BACKENDS, call, create_campaign
from tests.e2e.conftest import FEEDLOOP, _wait_until_healthy, feedloop
from tests.integration.test_worker import HeldSocketController, Inbox
from tests.support.conditions import wait_until
from tests.support.ledger import Ledger, report
from tests.support.pgserver import PostgresServer
from tests.support.ports import listening_socket
from tests.support.processes import feedloop_workers, stop_process_group
from tests.support.receivers import HookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

#: Calls acknowledged between two faults: enough for each fault to land under load.
STRIDE = 25


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (gunicorn's workers of a master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


class Site:
    """A migrated database with an admin key, served by `feedloop serve` masters that all
    take the same listening socket: a new master after a killed one keeps the address."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
                    "FEEDLOOP_DATABASE_URL": database_url,
                    "FEEDLOOP_DATA_DIR": str(workdir / "var"),
                    "FEEDLOOP_SECRET_KEY": uuid.uuid4().hex}
        feedloop(self.env, "migrate")
        line = feedloop(self.env, "keys", "create", "--account", "acme", "--scope", "admin")
        self.key = tuple(line.strip().splitlines()[-1].split(":", 1))
        self.sock = listening_socket()
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.env["FEEDLOOP_BASE_URL"] = self.base_url
        self.masters: list[subprocess.Popen] = []

    def serve(self, workers: int = 2) -> subprocess.Popen:
        log_path = self.workdir / f"serve{len(self.masters)}.log"
        with open(log_path, "wb") as log:
            master = subprocess.Popen(
                [FEEDLOOP, "serve", "--bind", f"fd://{self.sock.fileno()}",
                 "--workers", str(workers)], env=self.env, cwd=self.workdir, stdout=log,
                stderr=subprocess.STDOUT, pass_fds=[self.sock.fileno()], start_new_session=True)
        self.masters.append(master)
        _wait_until_healthy(self.base_url, master, log_path)
        return master

    def campaign(self) -> int:
        host = self.base_url.removeprefix("http://")
        api = xmlrpc.client.ServerProxy(f"http://{self.key[0]}:{self.key[1]}@{host}/xmlrpc")
        survey = api.feedloop.create_survey({"title": "t", "language": "en", "questions": [
            {"key": "nps", "type": "nps", "text": "?"}]})
        return api.feedloop.create_campaign({"survey_id": survey["survey_id"],
                                             "name": "c"})["campaign_id"]

    def invitations_by_event(self, campaign_id: int) -> Counter:
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(invitations.c.event_id, func.count()).where(
                        invitations.c.campaign_id == campaign_id)
                    .group_by(invitations.c.event_id)).all()
        finally:
            engine.dispose()
        return Counter({event_id: n for event_id, n in rows})

    def close(self) -> None:
        # A killed master's process group outlives it while its orphaned workers run.
        for master in self.masters:
            stop_process_group(master)
        self.sock.close()


@pytest.fixture
def site_on(tmp_path):
    """Sites on a database URL, closed at the end of the test."""
    sites = []

    def make(database_url: str) -> Site:
        sites.append(Site(database_url, tmp_path))
        return sites[-1]

    yield make
    for site in sites:
        site.close()


@pytest.fixture(params=BACKENDS)
def database_for_faults(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedloop.db'}"
        return
    with request.getfixturevalue("postgres_server").temporary_database("faults") as url:
        yield url


def acknowledged_after(ledger: Ledger, more: int, what: str) -> None:
    mark = ledger.acknowledged_count()
    wait_until(lambda: ledger.acknowledged_count() >= mark + more, 60, what, interval=0.05)


def settled_figures(ledger: Ledger, site: Site, **extra: object) -> dict[str, int]:
    ledger.settle()
    figures = ledger.figures(site.invitations_by_event(ledger.campaign_id))
    ledger.report(figures, ARTIFACTS, **extra)
    return figures


def test_kill_9_of_a_worker_and_of_the_master_loses_and_duplicates_no_acknowledged_write(
        database_for_faults, site_on, request):
    site = site_on(database_for_faults)
    master = site.serve()
    backend = request.node.callspec.params["database_for_faults"]
    ledger = Ledger(f"kill-9-{backend}", lambda: site.base_url, site.key, site.campaign())
    load = ledger.load(threads=4)
    try:
        acknowledged_after(ledger, STRIDE, "calls acknowledged before the first kill")
        victim = children(master.pid)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len([p for p in children(master.pid) if p != victim]) == 2, 30,
                   "gunicorn to replace the killed worker")
        acknowledged_after(ledger, STRIDE, "calls acknowledged after the worker was killed")
        os.kill(master.pid, signal.SIGKILL)
        master.wait(10)
        site.serve()  # at once, on the same socket
        acknowledged_after(ledger, STRIDE, "calls acknowledged after the master was killed")
    finally:
        load.stop()
    figures = settled_figures(ledger, site)
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["acknowledged"] >= 3 * STRIDE
    kinds = Counter(answer.kind for _, answer in ledger.answers)
    assert set(kinds) <= {"ok", "transport", "Unavailable"}, kinds


@pytest.fixture
def crashable_postgres():
    """A PostgreSQL server of this test alone (it is crashed), with synchronous commits: a
    committed write must survive the crash for the ledger to hold (fsync stays off: the
    server process dies, not the machine, so what was written is in the OS's cache)."""
    server = PostgresServer(settings={"synchronous_commit": "on"})
    server.start()
    yield server
    server.stop()


@pytest.mark.postgres
def test_a_postgres_crash_under_load_is_unavailable_until_it_is_back_then_nothing_fails(
        crashable_postgres, site_on):
    site = site_on(crashable_postgres.create_database("faults"))
    site.serve()
    ledger = Ledger("postgres-restart-immediate", lambda: site.base_url, site.key,
                    site.campaign())
    load = ledger.load(threads=4)
    try:
        acknowledged_after(ledger, STRIDE, "calls acknowledged before the crash")
        crashed = time.monotonic()
        crashable_postgres.crash()
        wait_until(lambda: sum(1 for started, a in list(ledger.answers)
                               if started > crashed and a.kind != "ok") >= 8, 30,
                   "answers during the outage")
        resumed = time.monotonic()
        crashable_postgres.resume()
        back = time.monotonic()  # pg_ctl start -w returns once the server takes connections
        wait_until(lambda: any(started > resumed and a.kind == "ok"
                               for started, a in list(ledger.answers)), 30, "the first success")
        recovered = min(started for started, a in ledger.answers
                        if started > resumed and a.kind == "ok")
        acknowledged_after(ledger, STRIDE, "calls acknowledged after the recovery")
    finally:
        load.stop()
    figures = settled_figures(ledger, site, restart_s=f"{back - resumed:.2f}",
                              first_success_after_back_s=f"{max(0.0, recovered - back):.2f}")
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    during = [a for started, a in ledger.answers if crashed < started < recovered]
    assert Counter(a.kind for a in during).keys() <= {"ok", "Unavailable"}, Counter(
        a.kind for a in during)
    outages = [a for a in during if a.kind == "Unavailable"]
    assert outages and all(a.retry_after and a.status in (200, 503) for a in outages)
    assert {a.status for a in outages} == {200, 503}  # XML-RPC's 200 and SOAP's 503
    after = Counter(a.kind for started, a in ledger.answers if started > recovered)
    assert set(after) == {"ok"}, after


def worker_env(database_url: str, rt, workdir: Path, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
            "FEEDLOOP_DATABASE_URL": database_url, "FEEDLOOP_DATA_DIR": str(workdir / "var"),
            "FEEDLOOP_SECRET_KEY": rt.secret_key.decode(), "FEEDLOOP_BASE_URL": rt.base_url,
            # the receivers of these tests are local, which outbound requests must not reach
            # unless the operator's allowlist says so
            "FEEDLOOP_OUTBOUND_ALLOW": "127.0.0.1/32", **extra}


def fast_forward(engine, table, **values) -> None:
    """What the clock would do: make backed-off retries due, or let a dead worker's lease
    run out (5 minutes), now rather than after the wait."""
    with engine.begin() as connection:
        connection.execute(update(table).values(**values))


@pytest.fixture
def late_receiver():
    receiver = HookReceiver()
    yield receiver
    receiver.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_webhook_reaches_a_receiver_that_was_down_after_a_worker_dies_mid_delivery(
        database_url, rt, admin, engine, late_receiver, tmp_path):
    rt.clock = utc_now  # the worker processes read the real clock
    call(rt, admin, "RotateWebhookSecret", confirm=True)
    campaign_id = create_campaign(rt, admin, webhooks=[late_receiver.url])
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "9")])

    def delivery():
        [entry] = call(rt, admin, "ListDeliveries").deliveries
        return entry

    with feedloop_workers(worker_env(database_url, rt, tmp_path), tmp_path) as start:
        first = start()
        wait_until(lambda: delivery().attempts >= 1, 30, "an attempt on the receiver that is down")
        assert delivery().state == "pending" and "refused" in delivery().last_error.lower()
        late_receiver.open()
        fast_forward(engine, outbox, next_attempt_at=utc_now())
        wait_until(lambda: late_receiver.received, 30, "the delivery to reach the receiver")
        os.kill(first.pid, signal.SIGKILL)  # mid-delivery: the receiver has not answered
        first.wait(10)
        late_receiver.release.set()
        fast_forward(engine, outbox, lease_until=utc_now() - timedelta(seconds=1))
        start()
        wait_until(lambda: delivery().state == "delivered", 30, "the delivery by a new worker")
    key = delivery().idempotency_key
    ids = set(late_receiver.received)
    # A receiver that drops repeated webhook-ids sees one event: "duplicated" counts other ids.
    report("webhook-receiver-down-worker-kill-9", {
        "calls": 1, "acknowledged": int(key in ids), "lost": int(key not in ids),
        "duplicated": len(ids - {key})}, ARTIFACTS, receipts=len(late_receiver.received))
    assert late_receiver.received == [key, key]  # the in-flight one again, same webhook-id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_invitations_are_mailed_once_when_the_smtp_server_is_back(database_url, rt, admin,
                                                                  engine, tmp_path):
    rt.clock = utc_now
    inbox = Inbox()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the SMTP server's port, refusing until it listens
    smtp_url = f"smtp://127.0.0.1:{sock.getsockname()[1]}?from=surveys@feedloop.test"
    campaign_id = create_campaign(rt, admin, delivery="email")
    emails = [f"p{i}@example.com" for i in range(3)]
    call(rt, admin, "AddRespondents", campaign_id=campaign_id,
         respondents=[m.Respondent(email=e) for e in emails])

    def attempted() -> bool:
        with engine.connect() as connection:
            return connection.execute(select(func.min(invitations.c.attempts))).scalar() >= 1

    with feedloop_workers(worker_env(database_url, rt, tmp_path, FEEDLOOP_SMTP_URL=smtp_url),
                 tmp_path) as start:
        worker = start()
        wait_until(attempted, 30, "an attempt on the SMTP server that is down")
        assert inbox.messages == []
        sock.listen(16)
        controller = HeldSocketController(inbox, sock)
        controller.start()
        try:
            fast_forward(engine, invitations, next_attempt_at=utc_now())
            wait_until(lambda: len(inbox.messages) >= 3, 30, "the mails")
            rounds = (tmp_path / "worker0.log").read_text().count(" round ")
            wait_until(lambda: (tmp_path / "worker0.log").read_text().count(" round ") >= rounds + 2,
                       30, "two more worker rounds")
        finally:
            controller.stop()
        assert worker.poll() is None
    mailed = Counter(inbox.to())
    report("smtp-down-then-up", {"calls": len(emails), "acknowledged": len(mailed),
                                 "lost": len(set(emails) - set(mailed)),
                                 "duplicated": sum(n - 1 for n in mailed.values())}, ARTIFACTS)
    assert sorted(inbox.to()) == emails
