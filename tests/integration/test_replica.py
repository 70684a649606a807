"""FEEDLOOP_REPLICA_DATABASE_URL: the reads that tolerate lag go to the replica, writes never.

Mostly the "replica" is a second engine on the test's own database: what matters is which
engine each statement went through (recorded by a statement hook on each). On PostgreSQL
a real streaming standby (pg_basebackup -R) serves them too, and refuses writes.
"""
from __future__ import annotations

import contextlib
import shutil

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InternalError, OperationalError

from service.config import ConfigError, Settings
from service.services import Runtime
from service.services import messages as m
from service.services.backlog import read_backlog
from service.services.dumps import dump_rows, plan_dump, run_scheduled_dumps
from service.services.metrics import account_overview, campaign_trend, comments_page
from service.startup import run_checks
from service.storage.engine import make_engine
from service.storage.uow import units_of_work
from service.wsgi import create_app
from tests.conftest import call
from tests.integration.test_scheduled_dumps import campaign_with_answers
from tests.support.conditions import wait_until
from tests.support.ports import refused_port
from tests.support.revisions import LATEST

WRITES = ("INSERT", "UPDATE", "DELETE")


class Recorded:
    """The statements an engine executed, in order (the first word of each, and the text)."""

    def __init__(self, engine) -> None:
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        self.statements.append(" ".join(statement.split()))

    def writes(self) -> list[str]:
        return [s for s in self.statements if s.upper().startswith(WRITES)]

    def reads_of(self, table: str) -> list[str]:
        return [s for s in self.statements if s.upper().startswith("SELECT")
                and f" {table}" in s]


@pytest.fixture
def engines(database_url):
    """The primary's engine and the replica's (on the same database), each recorded."""
    primary, replica = make_engine(database_url), make_engine(database_url)
    yield primary, replica
    primary.dispose()
    replica.dispose()


@pytest.fixture
def replicated(rt, engines):
    """``rt`` composed with a replica engine; the statement records of both engines."""
    primary, replica = engines
    replicated = Runtime(uow=units_of_work(primary, replica), secret_key=rt.secret_key,
                         base_url=rt.base_url, clock=rt.clock, dump_store=rt.dump_store,
                         destinations=rt.destinations)
    return replicated, Recorded(primary), Recorded(replica)


def test_exports_dumps_metrics_and_the_dashboard_read_the_replica_only(replicated, admin):
    rt, primary, replica = replicated
    campaign_id = campaign_with_answers(rt, admin, 3)
    assert primary.writes() and not replica.statements    # the writes went to the primary
    primary.statements.clear()
    page = call(rt, admin, "ExportResponses", campaign_id=campaign_id)
    plan = plan_dump(rt, admin, campaign_id)
    cells = list(dump_rows(rt, plan, "csv"))
    records = list(dump_rows(rt, plan, "jsonl"))
    figures = call(rt, admin, "GetCampaignMetrics", campaign_id=campaign_id)
    request = m.GetCampaignMetricsRequest(campaign_id=campaign_id)
    trend = campaign_trend(rt, admin, request)
    comments = comments_page(rt, admin, request, None, 1, 10)
    overview = account_overview(rt, admin)
    backlog = read_backlog(rt)
    assert len(page.records) == len(cells) == len(records) == plan.rows == 3
    assert figures.responded == 3 and trend and comments.total == 0 and len(overview) == 1
    assert backlog is not None
    assert primary.statements == []
    assert replica.reads_of("responses") and replica.writes() == []


def test_what_reads_to_decide_a_write_stays_on_the_primary(replicated, admin, clock):
    rt, primary, replica = replicated
    campaign_with_answers(rt, admin, 2, dump_every="daily", dump_at="10:00")
    clock.now = clock.now.replace(hour=10)
    primary.statements.clear()
    assert run_scheduled_dumps(rt) == 1
    # the due list, the claim and the cursor a dump starts from: the primary's
    assert primary.reads_of("campaigns") and primary.reads_of("export_cursors")
    assert any(s.startswith("INSERT INTO dump_files") for s in primary.writes())
    # the dump's rows: the replica's, which wrote nothing
    assert replica.reads_of("responses") and not replica.reads_of("export_cursors")
    assert replica.writes() == []


def test_without_a_replica_its_reads_go_read_only_to_the_primary(engines):
    primary, replica = engines
    unit = units_of_work(primary)(replica=True)
    assert unit.engine is primary and unit.read_only
    assert units_of_work(primary, replica)(read_only=True).engine is primary


def test_a_replica_url_is_checked_like_the_database_url():
    with pytest.raises(ConfigError, match="^FEEDLOOP_REPLICA_DATABASE_URL must name the psycopg"):
        Settings.from_env({"FEEDLOOP_DATA_DIR": "/nonexistent",
                           "FEEDLOOP_REPLICA_DATABASE_URL": "postgresql://h/db"})


@pytest.fixture
def check_env(tmp_path, migrated_sqlite):
    shutil.copyfile(migrated_sqlite, tmp_path / "feedloop.db")
    (tmp_path / "secret_key").write_text("k")
    return {"FEEDLOOP_DATA_DIR": str(tmp_path)}


def replica_check(environ) -> tuple[bool, str]:
    [(ok, detail)] = [(ok, detail) for name, ok, detail in run_checks(environ)
                      if name == "replica"]
    return ok, detail


def test_check_reports_the_replica_reachable_at_its_revision(check_env, tmp_path):
    assert "replica" not in [name for name, _, _ in run_checks(check_env)]
    replica = f"sqlite:///{tmp_path / 'feedloop.db'}"
    assert replica_check({**check_env, "FEEDLOOP_REPLICA_DATABASE_URL": replica}) == (
        True, f"{replica} reachable, revision {LATEST}")


@pytest.mark.postgres
def test_check_says_when_the_replica_cannot_be_reached_or_is_no_replica(check_env, tmp_path,
                                                                         postgres_server):
    with refused_port() as port:
        ok, detail = replica_check({**check_env, "FEEDLOOP_REPLICA_DATABASE_URL":
                                    f"postgresql+psycopg://reader:secret@127.0.0.1:{port}/db"})
    assert not ok and detail.startswith(
        f"cannot reach the replica postgresql+psycopg://reader:***@127.0.0.1:{port}/db: ")
    with postgres_server.temporary_database("empty") as empty:
        ok, detail = replica_check({**check_env, "FEEDLOOP_REPLICA_DATABASE_URL": empty})
    assert not ok and detail == (f"the replica {empty} is at revision none, this release "
                                 f"needs {LATEST}: is it a replica of the primary?")


def test_the_app_sends_the_replicas_reads_to_its_engine(tmp_path, migrated_sqlite):
    shutil.copyfile(migrated_sqlite, tmp_path / "db.sqlite")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = create_app(Settings(database_url=url, base_url="http://127.0.0.1:8000",
                              secret_key=b"k", smtp_url="", data_dir=tmp_path,
                              replica_database_url=url))
    with contextlib.ExitStack() as stack:
        stack.callback(app.engine.dispose)
        stack.callback(app.replica_engine.dispose)
        assert app.replica_engine is not app.engine
        assert app.runtime.uow(replica=True).engine is app.replica_engine
        assert app.runtime.uow(read_only=True).engine is app.engine


@pytest.fixture(scope="module")
def standby(postgres_server):
    """A streaming standby of the test PostgreSQL (pg_basebackup -R), for this module."""
    from tests.support.pgserver import PostgresServer
    server = PostgresServer()
    server.start(primary=postgres_server)
    yield server
    server.stop()


def responses_on(replica, campaign_id: int) -> int | None:
    """The campaign's responses the standby has replayed (None: not even the database yet)."""
    try:
        with replica.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT count(*) FROM responses WHERE campaign_id = %(id)s",
                {"id": campaign_id}).scalar()
    except OperationalError:
        return None


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_streaming_standby_serves_exports_and_dumps_once_it_has_replayed_them(
        rt, engine, database_url, standby, admin, clock):
    replica = make_engine(make_url(database_url).set(port=standby.port).render_as_string(
        hide_password=False))
    try:
        replicated = Runtime(uow=units_of_work(engine, replica), secret_key=rt.secret_key,
                             base_url=rt.base_url, clock=clock, dump_store=rt.dump_store)
        campaign_id = campaign_with_answers(replicated, admin, 3, dump_every="daily",
                                            dump_at="10:00")
        wait_until(lambda: responses_on(replica, campaign_id) == 3, 30,
                   "the standby to replay the responses")
        assert len(call(replicated, admin, "ExportResponses", campaign_id=campaign_id
                        ).records) == 3
        clock.now = clock.now.replace(hour=10)
        assert run_scheduled_dumps(replicated) == 1
        [dump] = call(replicated, admin, "ListDumps").dumps
        assert dump.rows == 3
        with pytest.raises(InternalError, match="read-only transaction"):
            with units_of_work(engine, replica)(replica=True) as unit:
                unit.connection.exec_driver_sql("DELETE FROM responses")
    finally:
        replica.dispose()
