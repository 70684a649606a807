"""Group commit keeps every acknowledged SQLite write through a power cut.

Writers run under a simulated power cut (tests/support/powerloss.c): after they are
killed, the database directory is replaced by what had reached the disk, and every
row whose commit was acknowledged must be there. A control without the flush shows
the simulation is felt.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.powerloss import PowerCut

WRITER = Path(__file__).resolve().parents[1] / "support" / "powerloss_writer.py"


class Writer:
    """One writer process and the acknowledgements it printed."""

    def __init__(self, cut: PowerCut, url: str, name: str, mode: str, *options: str) -> None:
        env = {**os.environ, **cut.environment}
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER), url, name, mode, *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            cwd=Path(__file__).resolve().parents[2], start_new_session=True)
        self.acknowledged: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.endswith(b"\n"):   # a line cut by the kill was never acknowledged
                self.acknowledged.append(line.decode().strip())

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        self.process.stdout.close()
        self.process.stderr.close()


def database(cut: PowerCut) -> str:
    url = f"sqlite:///{cut.data.resolve() / 'feedloop.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        connection.execute(text("CREATE TABLE acknowledged (id INTEGER PRIMARY KEY, "
                                "ident TEXT NOT NULL UNIQUE)"))
    engine.dispose()
    cut.durable_now()
    return url


def run_until(writers: list[Writer], acknowledged: int, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while sum(len(w.acknowledged) for w in writers) < acknowledged:
        for writer in writers:
            if writer.process.poll() is not None:
                raise AssertionError(writer.process.stderr.read().decode())
        assert time.monotonic() < deadline, "the writers were too slow"
        time.sleep(0.01)
    for writer in writers:
        writer.kill()
    return [ident for w in writers for ident in w.acknowledged]


def surviving(cut: PowerCut, url: str) -> set[str]:
    cut.after_cut()
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        rows = {row[0] for row in connection.execute(text("SELECT ident FROM acknowledged"))}
    engine.dispose()
    return rows


@pytest.mark.parametrize("mode", ["group", "full"])
def test_a_power_cut_loses_no_acknowledged_commit_of_two_writers(tmp_path, mode):
    cut = PowerCut(tmp_path)
    url = database(cut)
    writers = [Writer(cut, url, name, mode) for name in ("a", "b")]
    acknowledged = run_until(writers, 300)
    assert len(acknowledged) >= 300
    assert {w.process.returncode for w in writers} == {-signal.SIGKILL}
    missing = set(acknowledged) - surviving(cut, url)
    assert not missing, f"{len(missing)} acknowledged commits lost, e.g. {sorted(missing)[:5]}"


def test_commits_to_a_log_made_anew_survive_a_power_cut(tmp_path):
    """The last connection's close deletes the log; the next open makes another file,
    which the flush must find (not the deleted one it held open). The writer stops
    with 30 commits in the third log, so the cut does not follow a close (whose
    checkpoint would have synced them)."""
    cut = PowerCut(tmp_path)
    url = database(cut)
    writer = Writer(cut, url, "a", "group", "--reopen-every", "40", "--stop-after", "150")
    acknowledged = run_until([writer], 150)
    missing = set(acknowledged) - surviving(cut, url)
    assert not missing, f"{len(missing)} acknowledged commits lost, e.g. {sorted(missing)[:5]}"


def test_the_control_without_any_flush_loses_acknowledged_commits(tmp_path):
    """synchronous=NORMAL alone syncs the log only at checkpoints: a cut before the
    first one loses what was acknowledged. Were the simulation not felt, this failed."""
    cut = PowerCut(tmp_path)
    url = database(cut)
    writer = Writer(cut, url, "a", "normal", "--stop-after", "100")
    acknowledged = run_until([writer], 100)
    kept = surviving(cut, url)
    assert set(acknowledged) - kept, "a cut with no flush lost nothing: the simulation is not felt"
