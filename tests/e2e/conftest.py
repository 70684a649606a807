"""A real gunicorn on 127.0.0.1, started through the `feedloop` command, per database backend."""
from __future__ import annotations

import contextlib
import gc
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.support.ports import listening_socket
from tests.support.processes import FEEDLOOP, stop_process_group

METRICS_TOKEN = "metrics-" + uuid.uuid4().hex


#: Client sockets the garbage collector closed after an end-to-end test, by test.
COLLECTED_SOCKETS: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _client_garbage_collected_here(request):
    """The garbage of an end-to-end test is collected when it ends, not in whichever test
    the collector next runs in.

    In-process code here is clients only (zeep, suds, xmlrpc.client, urllib; the service
    runs in its own processes). A client's response that an exception's traceback kept
    in a reference cycle keeps its socket open until the collector breaks the cycle; the
    socket's ResourceWarning then fails an unrelated test (twice, in CI, a zeep client
    parsing its WSDL). Those are listed at the end of the run with the test that left
    them; any other ResourceWarning met here (a file, a process) still fails the test.
    """
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    for found in caught:
        if issubclass(found.category, ResourceWarning) and str(found.message).startswith(
                "unclosed <socket.socket"):
            COLLECTED_SOCKETS.append((request.node.nodeid, str(found.message)))
        else:
            warnings.warn_explicit(found.message, found.category, found.filename, found.lineno)


def pytest_terminal_summary(terminalreporter) -> None:
    if COLLECTED_SOCKETS:
        terminalreporter.section("client sockets closed by the garbage collector")
        for nodeid, message in COLLECTED_SOCKETS:
            terminalreporter.write_line(f"{nodeid}: {message}")


def feedloop(env: dict[str, str], *args: str) -> str:
    """Run a `feedloop` command with ``env``; return its output (it must succeed)."""
    done = subprocess.run([FEEDLOOP, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]
    admin: tuple[str, str]          # key id, secret
    log_path: Path
    database: str                   # "sqlite" or "postgres"

    def feedloop(self, *args: str) -> str:
        """Run a `feedloop` command against this server's database; return its output."""
        return feedloop(self.env, *args)

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
        stop_process_group(process)


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


@dataclass
class Node:
    url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # the node's environment, for workers

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


#: The public address of the two nodes (FEEDLOOP_BASE_URL): what their links start with.
PUBLIC_URL = "https://surveys.test"


@pytest.fixture(scope="module")
def two_nodes(postgres_server, tmp_path_factory):
    """docs/deploy.md's set-up in small: migrate, accounts create, then two `feedloop serve`
    on one PostgreSQL with one FEEDLOOP_SECRET_KEY and data directories of their own.

    Yields the two nodes and the account's admin key ("id:secret"). Node 1 lists
    127.0.0.1 in FEEDLOOP_TRUSTED_PROXIES and node 2 does not: behind a proxy on
    127.0.0.1, tests see what that setting changes.
    """
    with _two_nodes(postgres_server, tmp_path_factory.mktemp("nodes"), lambda url: url, {}) as up:
        yield up


@pytest.fixture(scope="module")
def pooled_nodes(postgres_server, pgbouncer, s3_server, tmp_path_factory):
    """two_nodes as issue 17's deployment has them: the database reached through PgBouncer
    in transaction mode, scheduled dump files in an S3-compatible bucket."""
    from tests.conftest import S3_CREDENTIALS, new_bucket
    bucket, _ = new_bucket(s3_server)
    env = {**S3_CREDENTIALS, "FEEDLOOP_DB_POOLER": "transaction",
           "FEEDLOOP_DUMP_BUCKET": bucket, "FEEDLOOP_S3_ENDPOINT_URL": s3_server}
    with _two_nodes(postgres_server, tmp_path_factory.mktemp("pooled"), pgbouncer.url,
                    env) as up:
        yield up


@contextlib.contextmanager
def _two_nodes(postgres_server, workdir: Path, route, extra_env: dict[str, str]):
    """The nodes of two_nodes, ``route`` turning the database's URL into the one they use."""
    name = "nodes_" + uuid.uuid4().hex[:8]
    shared = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
              "FEEDLOOP_DATABASE_URL": route(postgres_server.create_database(name)),
              "FEEDLOOP_SECRET_KEY": uuid.uuid4().hex, "FEEDLOOP_METRICS_TOKEN": METRICS_TOKEN,
              # webhooks and CRM pushes of test_two_nodes.py go to a receiver on 127.0.0.1
              "FEEDLOOP_OUTBOUND_ALLOW": "127.0.0.1/32", **extra_env}
    assert "no account yet" in feedloop(shared, "migrate")
    key = feedloop(shared, "accounts", "create", "Acme").strip().splitlines()[-1]
    with contextlib.ExitStack() as stack:
        stack.callback(postgres_server.drop_database, name)
        nodes = []
        for n, trusted in ((1, "127.0.0.1"), (2, "")):
            env = {**shared, "FEEDLOOP_DATA_DIR": str(workdir / f"node{n}"),
                   "FEEDLOOP_TRUSTED_PROXIES": trusted}
            node = Node("", workdir / f"node{n}.log", env)
            node.url = stack.enter_context(serving(env, workdir, node.log_path, "--workers", "1",
                                                   public_url=PUBLIC_URL))
            nodes.append(node)
        yield nodes, key


def make_tracking_link(api) -> str:
    """A tracking link of a new one-question survey's campaign, made through XML-RPC ``api``."""
    survey = api.feedloop.create_survey({"title": "t", "language": "en", "questions": [
        {"key": "nps", "type": "nps", "text": "?", "required": True}]})
    campaign = api.feedloop.create_campaign({"survey_id": survey["survey_id"], "name": "c"})
    return api.feedloop.get_tracking_url({"campaign_id": campaign["campaign_id"],
                                          "email": "ana@example.com"})["url"]
