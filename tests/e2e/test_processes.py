"""`feedloop serve` as a process: a master killed with SIGKILL leaves nothing serving."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import FEEDLOOP, feedloop
from tests.support.ports import free_port
from tests.support.processes import stop_process_group

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            # the fields after the command name, which may hold spaces: state, ppid, ...
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting for its (new) parent."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0] \
            != "Z"
    except FileNotFoundError:
        return False


def healthy(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                return answer.status == 200
        time.sleep(0.1)
    return False


def test_a_master_killed_with_sigkill_leaves_no_worker_serving_and_a_restart_binds_at_once(
        tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
           "FEEDLOOP_DATA_DIR": str(tmp_path / "var"), "FEEDLOOP_SECRET_KEY": uuid.uuid4().hex}
    feedloop(env, "migrate")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = []

    def serve() -> subprocess.Popen:
        with open(tmp_path / f"serve{len(started)}.log", "wb") as log:
            started.append(subprocess.Popen([FEEDLOOP, "serve", "--bind", f"127.0.0.1:{port}"],
                                            env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))
        return started[-1]

    try:
        master = serve()
        assert healthy(url, 30), (tmp_path / "serve0.log").read_text()
        workers = children(master.pid)
        assert len(workers) == 2
        master.send_signal(signal.SIGKILL)
        master.wait()
        deadline = time.monotonic() + 5
        while any(map(running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(running, workers))
        restarted = serve()
        assert healthy(url, 15), (tmp_path / "serve1.log").read_text()
        assert restarted.poll() is None
    finally:
        for process in started:
            stop_process_group(process)
