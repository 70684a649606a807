"""Ending the servers a test started."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess


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
