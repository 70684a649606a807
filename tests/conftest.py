"""Fixtures shared by every test: clocks, databases (SQLite and PostgreSQL), runtimes."""
from __future__ import annotations

import functools
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from service.domain.credentials import Credentials
from service.services import OPERATIONS, Runtime, invoke
from service.services import messages as m
from service.services.keys import authenticate, create_account_key
from service.storage.atomic import DumpStore
from service.storage.engine import make_engine
from service.storage.migrations import upgrade
from service.storage.uow import SqlUnitOfWork

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


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feedloop.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    """A URL of an empty database: a SQLite file, or a fresh database on the test PostgreSQL."""
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path)
        return
    server = request.getfixturevalue("postgres_server")
    name = "t_" + uuid.uuid4().hex[:12]
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def rt(engine, clock, tmp_path) -> Runtime:
    return Runtime(uow=lambda read_only=False: SqlUnitOfWork(engine, read_only),
                   secret_key=b"test-secret-key", base_url="http://feedloop.test", clock=clock,
                   dump_store=DumpStore(tmp_path / "var" / "dumps"))


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


@pytest.fixture
def app(tmp_path, clock):
    """The whole WSGI application on a fresh SQLite database, with the fake clock."""
    from service.config import Settings
    from service.wsgi import create_app
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        base_url="http://127.0.0.1:8000", secret_key=b"k", smtp_url="",
                        data_dir=tmp_path)
    wsgi = create_app(settings, clock=clock)
    upgrade(wsgi.engine)
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
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is installed by tests/run.sh")
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
