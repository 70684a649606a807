"""A real gunicorn on 127.0.0.1, started through the `feedloop` command, per database backend."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

FEEDLOOP = str(Path(sys.executable).with_name("feedloop"))
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]
    admin: tuple[str, str]          # key id, secret
    log_path: Path

    def feedloop(self, *args: str) -> str:
        """Run a `feedloop` command against this server's database; return its output."""
        done = subprocess.run([FEEDLOOP, *args], env=self.env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def new_key(self, account: str, *scopes: str) -> tuple[str, str]:
        args = ["keys", "create", "--account", account]
        for scope in scopes:
            args += ["--scope", scope]
        key_id, secret = self.feedloop(*args).strip().splitlines()[-1].split(":", 1)
        return key_id, secret

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("feedloop serve exited:\n" + log_path.read_text())
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("feedloop serve did not become healthy:\n" + log_path.read_text())


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_server(request, tmp_path_factory):
    """`feedloop serve` with 2 workers on a fresh database, and an admin key of account acme."""
    workdir = tmp_path_factory.mktemp("live")
    port = free_port()
    env = {**os.environ, "FEEDLOOP_BASE_URL": f"http://127.0.0.1:{port}",
           "FEEDLOOP_DATA_DIR": str(workdir / "var"), "FEEDLOOP_SECRET_KEY": uuid.uuid4().hex,
           "FEEDLOOP_METRICS_TOKEN": METRICS_TOKEN}
    db_name = None
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        db_name = "live_" + uuid.uuid4().hex[:10]
        env["FEEDLOOP_DATABASE_URL"] = server.create_database(db_name)
    else:
        env.pop("FEEDLOOP_DATABASE_URL", None)
    live = LiveServer(f"http://127.0.0.1:{port}", env, ("", ""), workdir / "server.log")
    live.feedloop("migrate")
    live.admin = live.new_key("acme", "admin")
    with open(live.log_path, "wb") as log:
        process = subprocess.Popen([FEEDLOOP, "serve", "--bind", f"127.0.0.1:{port}",
                                    "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=workdir, start_new_session=True)
    try:
        _wait_until_healthy(live.base_url, process, live.log_path)
        yield live
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        if db_name:
            request.getfixturevalue("postgres_server").drop_database(db_name)
        shutil.rmtree(workdir, ignore_errors=True)
