"""The catalogue says what it does: explicit audit flags and error lists, one list of modules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

import service.services as services
from service.services import OPERATION_MODULES, OPERATIONS, Principal, invoke
from service.services.catalogue import operation

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

    def add(self, *entry) -> None:
        self.entries.append(entry)


class FakeUnitOfWork:
    def __init__(self, audit: FakeAudit) -> None:
        self.audit = audit
        self.committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def commit(self) -> None:
        self.committed = True


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
        if entries:
            assert rt.audit.entries[0][:4] == (7, "key-1", name, "thing_id=3")
    finally:
        del OPERATIONS[name]
