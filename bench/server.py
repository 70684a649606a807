"""Servers for the benchmarks: `feedloop serve` on a fresh database (SQLite file or a
throwaway PostgreSQL), and the bare baselines of bench/baselines.py under the same
gunicorn settings."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e.conftest import FEEDLOOP, _wait_until_healthy  # noqa: E402

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SECRET_KEY = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(backend: str = "sqlite", workers: int = 2, database_url: str | None = None):
    """Yield (base_url, (key_id, secret), master pid) of a running server; stop it afterwards.

    With ``database_url`` the server uses that (empty) database, else a new SQLite
    file or, for backend "postgres", a throwaway PostgreSQL of its own.
    """
    workdir = Path(tempfile.mkdtemp(prefix="feedloop-bench-"))
    port = free_port()
    env = {**os.environ, "FEEDLOOP_DATA_DIR": str(workdir / "var"),
           "FEEDLOOP_BASE_URL": f"http://127.0.0.1:{port}", "FEEDLOOP_SECRET_KEY": SECRET_KEY}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        if database_url:
            env["FEEDLOOP_DATABASE_URL"] = database_url
        elif backend == "postgres":
            from tests.support.pgserver import PostgresServer
            postgres = stack.enter_context(PostgresServer())
            env["FEEDLOOP_DATABASE_URL"] = postgres.create_database("bench")
        subprocess.run([FEEDLOOP, "migrate"], env=env, check=True, capture_output=True)
        out = subprocess.run([FEEDLOOP, "keys", "create", "--account", "bench", "--scope",
                              "admin"], env=env, check=True, capture_output=True, text=True).stdout
        key = tuple(out.strip().splitlines()[-1].split(":", 1))
        base = f"http://127.0.0.1:{port}"
        with _serving([FEEDLOOP, "serve", "--bind", f"127.0.0.1:{port}", "--workers",
                       str(workers)], env, workdir / "serve.log",
                      lambda server, log: _wait_until_healthy(base, server, log)) as server:
            yield base, key, server.pid


@contextlib.contextmanager
def running_baseline(variant: str, database_url: str | None = None, workers: int = 2):
    """Yield the base URL of a bench/baselines.py ``variant`` under feedloop's gunicorn config."""
    from baselines import Store
    if database_url:
        Store.create_table(database_url)
    port = free_port()
    env = {**os.environ, "FEEDLOOP_BIND": f"127.0.0.1:{port}", "FEEDLOOP_WORKERS": str(workers),
           "BENCH_VARIANT": variant, "BENCH_DATABASE_URL": database_url or ""}
    base = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="feedloop-bench-"))
    log_path = workdir / "baseline.log"
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        command = [GUNICORN, "--config", "python:service.gunicorn_conf", "--pythonpath", "bench",
                   "baselines:application"]
        stack.enter_context(_serving(command, env, log_path, lambda server, log:
                                     _wait_until_answering(base, server, log)))
        yield base


@contextlib.contextmanager
def _serving(command: list[str], env: dict, log_path: Path, wait):
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait(server, log_path)
        yield server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _wait_until_answering(base: str, server: subprocess.Popen, log_path: Path) -> None:
    """Until the server answers HTTP at all (a bare app may answer GET / with an error)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{base} exited:\n" + log_path.read_text())
        try:
            urllib.request.urlopen(base + "/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not start:\n" + log_path.read_text())
