"""Fixtures shared by every test: clocks, databases (SQLite and PostgreSQL), runtimes."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from service.domain.credentials import Credentials
from service.domain.destinations import Destinations, parse_allowlist
from service.services import OPERATIONS, Runtime, invoke
from service.services import messages as m
from service.services.keys import authenticate, create_account_key
from service.storage.atomic import DumpStore
from service.storage.engine import make_engine
from service.storage.migrations import upgrade
from service.storage.uow import units_of_work

#: FEEDLOOP_OUTBOUND_ALLOW of the suite's runtimes: its receivers are local.
TEST_OUTBOUND_ALLOW = "127.0.0.1/32"
ARTIFACTS = Path(os.environ.get("FEEDLOOP_TEST_ARTIFACTS", "test-artifacts"))


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_server():
    from tests.support.pgserver import PostgresServer
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # SQLite folds its WAL into the file: a plain copy is complete


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite file migrated once per session: each test gets a copy (Alembic takes longer).

    tests/integration/test_migrations.py still migrates an empty database from scratch.
    """
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server) -> str:
    """A PostgreSQL database migrated once per session, the template of each test's database."""
    name = "migrated_template"  # the server is this session's own: no other run shares it
    _migrate(postgres_server.create_database(name))
    return name


def _fresh_database(request, tmp_path: Path, migrated: bool):
    if request.param == "sqlite":
        path = tmp_path / "feedloop.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("migrated_postgres") if migrated else "template0"
    with request.getfixturevalue("postgres_server").temporary_database("t", template) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """A URL of the test's own migrated database: a SQLite file, or one on the test PostgreSQL."""
    yield from _fresh_database(request, tmp_path, migrated=True)


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path) -> str:
    """A URL of an empty database of the test's own, for the tests of the migrations."""
    yield from _fresh_database(request, tmp_path, migrated=False)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def rt(engine, clock, tmp_path) -> Runtime:
    return Runtime(uow=units_of_work(engine),
                   secret_key=b"test-secret-key", base_url="http://feedloop.test", clock=clock,
                   dump_store=DumpStore(tmp_path / "var" / "dumps"),
                   # the receivers of webhooks and CRM pushes listen on 127.0.0.1
                   destinations=Destinations(parse_allowlist(TEST_OUTBOUND_ALLOW)))


@pytest.fixture
def admin_key(rt):
    return create_account_key(rt, "acme", ["admin"])


@pytest.fixture
def admin(rt, admin_key):
    """The principal of account acme's admin key."""
    return authenticate(rt, Credentials(admin_key.key_id, admin_key.secret))


def call(rt, principal, operation_name: str, **fields):
    """Run a catalogue operation as a door would, with the request built from ``fields``."""
    op = OPERATIONS[operation_name]
    return invoke(rt, principal, op, op.request(**fields))


def create_campaign(rt, principal, title: str = "t", language: str = "en", **settings) -> int:
    """A campaign of a new survey with one NPS question; its id."""
    survey_id = call(rt, principal, "CreateSurvey", title=title, language=language,
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    return call(rt, principal, "CreateCampaign", survey_id=survey_id, name="c",
                **settings).campaign_id


@pytest.fixture
def new_campaign(rt, admin):
    """Creates campaigns of account acme: ``new_campaign(**settings)`` (see create_campaign)."""
    return functools.partial(create_campaign, rt, admin)


@pytest.fixture(scope="session")
def pgbouncer(postgres_server):
    """PgBouncer in transaction mode in front of the test PostgreSQL, for this session."""
    from tests.support.pgbouncer import PgBouncer
    with PgBouncer(postgres_server.port) as bouncer:
        yield bouncer


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server (moto's) on 127.0.0.1 for this session; yields its URL."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


#: What boto3 needs to talk to the test's S3 server (moto accepts any credentials).
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                  "AWS_DEFAULT_REGION": "us-east-1"}


def new_bucket(endpoint: str):
    """A new, empty bucket on the S3 server at ``endpoint``: its name and a client."""
    import uuid

    import boto3
    client = boto3.client("s3", endpoint_url=endpoint,
                          region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
                          aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    name = f"feedloop-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name, client


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """A new, empty bucket on the test's S3 server: its name, endpoint and a client."""
    from types import SimpleNamespace
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name, client = new_bucket(s3_server)
    return SimpleNamespace(name=name, endpoint=s3_server, client=client)


@pytest.fixture
def app(tmp_path, clock, migrated_sqlite):
    """The whole WSGI application on a fresh SQLite database, with the fake clock."""
    from service.config import Settings
    from service.wsgi import create_app
    shutil.copyfile(migrated_sqlite, tmp_path / "db.sqlite")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        base_url="http://127.0.0.1:8000", secret_key=b"k", smtp_url="",
                        data_dir=tmp_path)
    wsgi = create_app(settings, clock=clock)
    yield wsgi
    wsgi.engine.dispose()


@pytest.fixture
def key(app):
    created = create_account_key(app.runtime, "acme", ["admin"])
    return created.key_id, created.secret


@pytest.fixture
def web(app, key):
    """WebTest on the application, authenticated with acme's admin key."""
    from webtest import TestApp
    client = TestApp(app)
    client.authorization = ("Basic", key)
    return client


#: Debian's chromium, headless, with nothing that reaches the network on its own.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (tests/run.sh installs Debian's package)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(app):
    """The `app` fixture served over HTTP on 127.0.0.1 from a thread; yields its base URL."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def _postgres_installed() -> bool:
    from tests.support.pgserver import is_installed
    return is_installed()


def _nginx_installed() -> bool:
    from tests.support.nginx import find_nginx
    return find_nginx() is not None


def _pgbouncer_installed() -> bool:
    from tests.support.pgbouncer import find_pgbouncer
    return find_pgbouncer() is not None


def _php_with_soap() -> bool:
    php = shutil.which("php")
    return php is not None and subprocess.run(
        [php, "-r", 'exit(extension_loaded("soap") ? 0 : 1);'], capture_output=True,
        check=False, timeout=60).returncode == 0


#: Programs some tests need from the machine: a name for FEEDLOOP_TEST_ALLOW_SKIP -> (the
#: marker and the fixture of those tests, a check, what to install).
REQUIREMENTS = {
    "chromium": ("browser", "chromium", lambda: os.access(CHROMIUM, os.X_OK),
                 f"Debian's chromium at {CHROMIUM} (apt-get install chromium)"),
    "postgres": ("postgres", "postgres_server", _postgres_installed,
                 "PostgreSQL's server programs (apt-get install postgresql)"),
    "nginx": ("nginx", "nginx", _nginx_installed, "Debian's nginx (apt-get install nginx)"),
    "php": ("php", "php", _php_with_soap,
            "PHP with its SOAP extension (apt-get install php-cli php-soap)"),
    "wsimport": ("wsimport", "wsimport", lambda: all(map(shutil.which, ("wsimport", "javac"))),
                 "JAX-WS's wsimport and a JDK (apt-get install jaxws default-jdk-headless)"),
    "pgbouncer": ("pgbouncer", "pgbouncer", _pgbouncer_installed,
                  "Debian's pgbouncer (apt-get install pgbouncer)"),
}
ALLOW_SKIP = "FEEDLOOP_TEST_ALLOW_SKIP"


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what will not run
def pytest_collection_modifyitems(config, items) -> None:
    """A program missing for selected tests fails the run, unless ALLOW_SKIP names it.

    CI must never pass by skipping: a machine without chromium would otherwise turn
    every browser test into a quiet skip.
    """
    allowed = {name.strip() for name in os.environ.get(ALLOW_SKIP, "").split(",")}
    for name, (marker, fixture, available, what) in REQUIREMENTS.items():
        needing = [item for item in items if item.get_closest_marker(marker)
                   or fixture in getattr(item, "fixturenames", ())]
        if not needing or available():
            continue
        if name not in allowed:
            raise pytest.UsageError(
                f"{len(needing)} selected test(s) need {what}, which is missing on this machine. "
                f"tests/run.sh installs it; a developer may skip those tests with "
                f"{ALLOW_SKIP}={name} (a comma-separated list).")
        skip = pytest.mark.skip(reason=f"{what} is missing; {ALLOW_SKIP} names {name}")
        for item in needing:
            item.add_marker(skip)
