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
import time
import subprocess
import uuid
import xmlrpc.client
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.storage.engine import make_engine
from service.storage.tables import invitations
from tests.conftest import ARTIFACTS, BACKENDS
from tests.e2e.conftest import FEEDLOOP, _wait_until_healthy, feedloop
from tests.support.conditions import wait_until
from tests.support.ledger import Ledger
from tests.support.pgserver import PostgresServer
from tests.support.ports import listening_socket
from tests.support.processes import stop_process_group

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
