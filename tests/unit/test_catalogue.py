"""The catalogue says what it does: explicit audit flags and error lists, one list of modules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

import service.services as services
from service.services import OPERATION_MODULES, OPERATIONS, Principal, invoke
from service.domain.errors import Forbidden
from service.services.catalogue import SCOPES, audit_target, operation

SERVICES_DIR = Path(services.__file__).parent


def test_every_module_that_declares_operations_is_listed_once():
    declaring = {path.stem for path in SERVICES_DIR.glob("*.py")
                 if "\n@operation(" in path.read_text()}
    listed = [module.__name__.rsplit(".", 1)[1] for module in OPERATION_MODULES]
    assert sorted(listed) == sorted(declaring) and len(set(listed)) == len(listed)
    assert {op.func.__module__ for op in OPERATIONS.values()} == {
        module.__name__ for module in OPERATION_MODULES}


def test_an_operation_must_say_whether_it_is_audited_and_which_errors_it_raises():
    for missing in ({"audited": False}, {"errors": ()}):
        with pytest.raises(TypeError):
            operation("Nothing", scope="read", **missing)


def test_reads_are_never_audited():
    assert not [op.name for op in OPERATIONS.values()
                if op.audited and op.name.startswith(("Get", "List"))]


@dataclass
class Echo:
    thing_id: int


class FakeAudit:
    def __init__(self) -> None:
        self.entries: list[tuple] = []
        self.committed: list[tuple] = []

    def add(self, *entry) -> None:
        self.entries.append(entry)


class FakeUnitOfWork:
    def __init__(self, audit: FakeAudit) -> None:
        self.audit = audit

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def commit(self) -> None:
        self.audit.committed = list(self.audit.entries)


class FakeRuntime:
    def __init__(self) -> None:
        self.audit = FakeAudit()
        self.clock = lambda: datetime(2026, 11, 2, tzinfo=timezone.utc)

    def uow(self, read_only: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.audit)


@pytest.mark.parametrize("audited, entries", [(True, 1), (False, 0)])
def test_invoke_writes_the_audit_log_exactly_when_the_operation_is_audited(audited, entries):
    def change_thing(rt, principal, request: Echo) -> Echo:
        """Change a thing."""
        return request

    name = f"ChangeThing{audited}"  # the registry is global: a name of this test only
    operation(name, scope="admin", audited=audited, errors=())(change_thing)
    try:
        rt = FakeRuntime()
        principal = Principal(7, "key-1", frozenset({"admin"}))
        assert invoke(rt, principal, OPERATIONS[name], Echo(3)) == Echo(3)
        assert len(rt.audit.entries) == entries
        assert rt.audit.committed == rt.audit.entries
        if entries:
            assert rt.audit.entries[0] == (7, "key-1", name, "thing_id=3", rt.clock())
    finally:
        del OPERATIONS[name]


@dataclass
class Request:
    campaign_id: int | None
    contact_id: int | None
    email: str


@dataclass
class Result:
    campaign_id: int
    key_id: str


def test_the_audit_target_names_each_id_once_and_nothing_else():
    assert audit_target(Request(5, None, "ana@example.com"), Result(5, "fl_1")) == (
        "campaign_id=5 key_id=fl_1")
    assert audit_target(Request(None, None, "ana@example.com"), Echo(0)) == "thing_id=0"


@pytest.mark.parametrize("scopes, allowed", [
    ({"read"}, {"read"}), ({"trigger", "read"}, {"trigger", "read"}),
    ({"admin"}, {"trigger", "read", "admin"})])
def test_a_key_may_do_what_its_scopes_allow_and_an_admin_key_everything(scopes, allowed):
    principal = Principal(1, "k", frozenset(scopes))
    assert {scope for scope in SCOPES if principal.allows(scope)} == allowed


def test_a_missing_scope_is_refused_with_the_scopes_the_key_has():
    with pytest.raises(Forbidden) as refused:
        Principal(1, "k", frozenset({"trigger", "read"})).require("admin")
    assert refused.value.message == ("This operation needs an API key with the 'admin' scope; "
                                     "this key has: read, trigger.")


def test_an_operations_xml_rpc_name_is_its_name_in_snake_case():
    assert OPERATIONS["GetTrackingUrl"].method_name == "feedloop.get_tracking_url"
    assert OPERATIONS["ListApiKeys"].method_name == "feedloop.list_api_keys"
