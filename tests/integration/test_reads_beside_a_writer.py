"""Reads never wait for a writer: on SQLite a read-only unit of work starts a deferred
transaction, which WAL lets read while another connection holds the write lock."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from service.domain.credentials import Credentials
from service.domain.errors import DomainError, Unavailable
from service.services import OPERATIONS, Runtime, invoke
from service.services import dumps, keys, results
from service.services import messages as m
from service.services.schema import from_plain
from service.storage import engine as engines
from service.storage.atomic import DumpStore
from service.storage.uow import units_of_work
from tests.conftest import call
from tests.support.samples import MISSING, sample_request

# SQLite only: the rule is about its locks (PostgreSQL readers never wait for writers).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Everything that only reads: the read-scope operations, the admin's listings, and the
#: helpers the doors, the command line and the worker read with.
READ_OPERATIONS = sorted([name for name, op in OPERATIONS.items() if op.scope == "read"]
                         + ["ListApiKeys", "ListAuditLog", "ListDeliveries"])
READ_HELPERS = {
    "plan and records of a dump": lambda rt, s: list(
        dumps.records(rt, dumps.plan_dump(rt, s.admin, s.campaign_id))),
    "plan of a dump that continues a named cursor": lambda rt, s: dumps.plan_dump(
        rt, s.admin, s.campaign_id, cursor_name="nightly"),
    "operator_principal": lambda rt, s: dumps.operator_principal(rt, s.campaign_id),
    "open_dump_file": lambda rt, s: dumps.open_dump_file(rt, s.admin, "x.csv"),
    "run_scheduled_dumps with none due": lambda rt, s: dumps.run_scheduled_dumps(rt),
    "authenticate a recently used key": lambda rt, s: keys.authenticate(rt, s.key),
    "contact_results": lambda rt, s: results.contact_results(rt, s.admin, 1),
    "has_accounts": lambda rt, s: keys.has_accounts(rt),
    "GetTrackingUrl of an open link asked for again": lambda rt, s: call(
        rt, s.admin, "GetTrackingUrl", campaign_id=s.campaign_id, email="open@example.com"),
    "GetTrackingUrl repeating its event id": lambda rt, s: call(
        rt, s.admin, "GetTrackingUrl", campaign_id=s.campaign_id, email="open@example.com",
        event_id="evt-open"),
    "account_principal": lambda rt, s: keys.account_principal(rt, "acme"),
    "rotate_account_key of an unknown key": lambda rt, s: keys.rotate_account_key(
        rt, "acme", "fl_0000000000000000", timedelta(hours=1)),
}


@pytest.fixture
def seeded(rt, admin, admin_key) -> SimpleNamespace:
    """acme's admin, a campaign with one response, and a key used a moment ago."""
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c").campaign_id
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "9")])
    call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="open@example.com",
         event_id="evt-open")
    key = Credentials(admin_key.key_id, admin_key.secret)
    keys.authenticate(rt, key)  # records its use now: the next one has nothing to write
    return SimpleNamespace(admin=admin, campaign_id=campaign_id, key=key)


@pytest.fixture
def beside_a_writer(engine, clock, tmp_path, monkeypatch, seeded):
    """A runtime whose writes give up after 0.1 s, while another connection holds the write lock."""
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 100)
    impatient = engines.make_engine(str(engine.url))
    writer = engine.connect()
    writer.begin()
    yield Runtime(uow=units_of_work(impatient),
                  secret_key=b"test-secret-key", base_url="http://feedloop.test", clock=clock,
                  dump_store=DumpStore(tmp_path / "var" / "dumps"))
    writer.close()
    impatient.dispose()


def answers(read) -> None:
    try:
        read()
    except Unavailable:
        raise  # the wait for the write lock ran out: this read waited for the writer
    except DomainError:
        pass  # an answer, even a refusal, is not a wait for the lock


@pytest.mark.parametrize("name", READ_OPERATIONS)
def test_read_operation_answers_while_another_connection_writes(seeded, beside_a_writer, name):
    op = OPERATIONS[name]
    ids = {**MISSING, "campaign_id": seeded.campaign_id}
    answers(lambda: invoke(beside_a_writer, seeded.admin, op,
                           from_plain(op.request, sample_request(name, ids))))


@pytest.mark.parametrize("name", READ_HELPERS)
def test_read_helper_answers_while_another_connection_writes(seeded, beside_a_writer, name):
    answers(lambda: READ_HELPERS[name](beside_a_writer, seeded))
