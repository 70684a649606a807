"""A real gunicorn on 127.0.0.1, started through the `feedloop` command, per database backend."""
from __future__ import annotations

import os
import contextlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.support.ports import listening_socket

FEEDLOOP = str(Path(sys.executable).with_name("feedloop"))
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]
    admin: tuple[str, str]          # key id, secret
    log_path: Path
    database: str                   # "sqlite" or "postgres"

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


@contextlib.contextmanager
def serving(env: dict[str, str], workdir: Path, log_path: Path, *args: str,
            public_url: str | None = None):
    """`feedloop serve` on a socket bound here and handed over (no port race); yields base URL.

    ``env`` gets its FEEDLOOP_BASE_URL (``public_url``, else the server's own address);
    the server's process group is ended afterwards.
    """
    with listening_socket() as sock:
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        env["FEEDLOOP_BASE_URL"] = public_url or base_url
        with open(log_path, "wb") as log:
            process = subprocess.Popen([FEEDLOOP, "serve", "--bind", f"fd://{sock.fileno()}",
                                        *args], env=env, cwd=workdir, stdout=log,
                                       stderr=subprocess.STDOUT, pass_fds=[sock.fileno()],
                                       start_new_session=True)
    try:
        _wait_until_healthy(base_url, process, log_path)
        yield base_url
    finally:
        _end_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _end_group(process, signal.SIGKILL)
            process.wait(timeout=20)


def _end_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # a server that failed to start is gone
        os.killpg(process.pid, sig)


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


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(request, tmp_path_factory):
    """`feedloop serve` with 2 workers on a fresh database, and an admin key of account acme.

    One per database for the whole session (a start takes seconds): each test makes the
    surveys, campaigns, accounts and keys it reads, and reads no one else's.
    """
    workdir = tmp_path_factory.mktemp("live")
    env = {**os.environ, "FEEDLOOP_DATA_DIR": str(workdir / "var"),
           "FEEDLOOP_SECRET_KEY": uuid.uuid4().hex, "FEEDLOOP_METRICS_TOKEN": METRICS_TOKEN}
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            server = request.getfixturevalue("postgres_server")
            env["FEEDLOOP_DATABASE_URL"] = stack.enter_context(server.temporary_database("live"))
        else:
            env.pop("FEEDLOOP_DATABASE_URL", None)
        live = LiveServer("", env, ("", ""), workdir / "server.log", request.param)
        live.feedloop("migrate")
        live.admin = live.new_key("acme", "admin")
        live.base_url = stack.enter_context(serving(env, workdir, live.log_path, "--workers", "2"))
        yield live
    shutil.rmtree(workdir, ignore_errors=True)
