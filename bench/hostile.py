"""Hostile documents against `feedloop serve` (1 worker): response time and worker memory.

Prints, per document and door, the median response time over 3 sends, its ratio
to a normal call (ListSurveys) measured in the same run, and the worker's peak
resident memory (VmHWM) after it. Run: .venv/bin/python bench/hostile.py
"""
from __future__ import annotations

import os
import statistics
import subprocess
import time
import xmlrpc.client
from pathlib import Path

import requests
from server import running_server

from tests.support.hostile import CORPUS


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def timed(session, url, body, content_type) -> float:
    started = time.perf_counter()
    session.post(url, data=body, headers={"Content-Type": content_type}, timeout=60)
    return time.perf_counter() - started


def main() -> None:
    with running_server(workers=1) as (base, key, master):
        time.sleep(1)
        [worker] = worker_pids(master)
        session = requests.Session()
        session.auth = key
        normal = xmlrpc.client.dumps(({},), "feedloop.list_surveys").encode()
        baseline = statistics.median(timed(session, base + "/xmlrpc", normal, "text/xml")
                                     for _ in range(20))
        print(f"machine: {os.cpu_count()} cores; baseline ListSurveys over XML-RPC: "
              f"{1000 * baseline:.1f} ms; worker RSS at start "
              f"{memory_kib(worker, 'VmRSS') / 1024:.1f} MiB")
        print(f"{'document':<20} {'bytes':>10} {'door':<7} {'median ms':>9} {'x normal':>8} "
              f"{'peak RSS MiB':>12}")
        for name, (body, content_type) in CORPUS.items():
            for door in ("soap", "xmlrpc"):
                times = [timed(session, f"{base}/{door}", body, content_type) for _ in range(3)]
                median = statistics.median(times)
                print(f"{name:<20} {len(body):>10} {door:<7} {1000 * median:>9.1f} "
                      f"{median / baseline:>8.1f} {memory_kib(worker, 'VmHWM') / 1024:>12.1f}")
        print(f"worker RSS at end {memory_kib(worker, 'VmRSS') / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
