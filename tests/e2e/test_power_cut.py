"""A power cut under load: `feedloop serve` on SQLite (group commit) runs under the
power-cut simulator (tests/support/powerloss.c) while client threads call both doors;
the whole service is killed at once and the database directory becomes what had
reached the disk. Served again, every call acknowledged before the cut must answer
with the URL it was given, and no event id may have two invitations.
"""
from __future__ import annotations

import os
import signal

import pytest

from tests.e2e.test_faults import Site, acknowledged_after, settled_figures
from tests.support.ledger import Ledger
from tests.support.ports import listening_socket
from tests.support.powerloss import PowerCut

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

#: Calls acknowledged before the cut: few enough that SQLite has not yet checkpointed
#: (which syncs the log itself), so the flush of each commit is what keeps them.
STRIDE = 25


def test_a_power_cut_under_load_loses_no_acknowledged_write(tmp_path):
    cut = PowerCut(tmp_path)
    site = Site(f"sqlite:///{cut.data.resolve() / 'feedloop.db'}", tmp_path)
    try:
        cut.durable_now()                     # migrated and keyed before the load
        site.env.update(cut.environment)
        master = site.serve()
        ledger = Ledger("power-cut-sqlite", lambda: site.base_url, site.key, site.campaign())
        load = ledger.load(threads=4)
        try:
            acknowledged_after(ledger, STRIDE, "calls acknowledged before the cut")
            os.killpg(master.pid, signal.SIGKILL)   # master and workers at once
            master.wait(10)
            site.sock.close()                       # waiting clients fail at once
        finally:
            load.stop()
        cut.after_cut()
        for name in cut.environment:
            site.env.pop(name)
        # Served again on another port (the old one's waiting clients were refused);
        # FEEDLOOP_BASE_URL stays, so the links it makes are comparable.
        site.sock = listening_socket()
        site.base_url = f"http://127.0.0.1:{site.sock.getsockname()[1]}"
        site.serve()
        figures = settled_figures(ledger, site)
    finally:
        site.close()
    assert figures["acknowledged"] >= STRIDE
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
