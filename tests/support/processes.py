"""Ending the servers a test started."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

FEEDLOOP = str(Path(sys.executable).with_name("feedloop"))


def stop_process_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the group of ``process`` (started with start_new_session), SIGKILL if it lingers.

    The group, not the process: a server's workers must not outlive it.
    """
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=timeout)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # a server that failed to start is gone
        os.killpg(process.pid, sig)


@contextlib.contextmanager
def feedloop_workers(env: dict[str, str], workdir: Path
                     ) -> Iterator[Callable[[], subprocess.Popen]]:
    """Yields ``start()``, which starts one more `feedloop worker` (rounds every 0.2 s, its
    log in ``workdir``/workerN.log); every worker started is ended at exit."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        with open(workdir / f"worker{len(started)}.log", "wb") as log:
            started.append(subprocess.Popen([FEEDLOOP, "worker", "--interval", "0.2"], env=env,
                                            cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            stop_process_group(process)
