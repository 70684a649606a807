"""The unit of work: one transaction, its repositories, explicit commit."""
from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from typing import Callable, Iterator

from sqlalchemy.engine import Engine

from service.storage.engine import READ_ONLY
from service.storage.outages import outage_of
from service.storage.repositories import (
    AccountRepository,
    AttributeRepository,
    AuditRepository,
    AuthFailureRepository,
    CampaignRepository,
    ContactRepository,
    DirectoryRepository,
    DumpFileRepository,
    ExportCursorRepository,
    InvitationRepository,
    KeyRepository,
    ListRepository,
    OutboxRepository,
    ResponseRepository,
    SurveyRepository,
)


def units_of_work(primary: Engine, replica_engine: Engine | None = None
                  ) -> Callable[..., "SqlUnitOfWork"]:
    """The runtime's ``uow(read_only=False, replica=False)``.

    ``replica=True`` marks a read that tolerates a replica's lag and is never followed
    by a write of what it read (dumps, exports, metrics, the dashboard): it runs
    read-only on ``replica_engine`` when there is one. Everything else runs on ``primary``.
    """
    def uow(read_only: bool = False, replica: bool = False) -> SqlUnitOfWork:
        if replica and replica_engine is not None:
            return SqlUnitOfWork(replica_engine, read_only=True)
        return SqlUnitOfWork(primary, read_only or replica)

    return uow


class SqlUnitOfWork:
    """``with uow:`` opens a transaction; leaving without ``commit()`` rolls it back.

    Repositories are made on first use: a call touches three or four of them.
    A database outage met anywhere inside (connecting, the lock wait of BEGIN, a
    statement, the commit) leaves as ``Unavailable``: this is the one place where
    driver failures are classified, so no operation has to.
    """

    def __init__(self, engine: Engine, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only

    def __enter__(self) -> "SqlUnitOfWork":
        with _outage_as_unavailable():
            connection = self.engine.connect()
        self.connection = connection
        # The pooled connection's info, read by SQLite's BEGIN and by run_alone; kept
        # for the whole unit of work, taken off before the connection goes back.
        info = connection.connection.info
        try:
            if self.read_only:
                info[READ_ONLY] = True
            with _outage_as_unavailable():
                self.transaction = connection.begin()
        except Exception:
            info.pop(READ_ONLY, None)
            connection.close()
            raise
        return self

    def commit(self) -> None:
        self.transaction.commit()

    def __exit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        try:
            with _outage_as_unavailable():
                try:
                    if self.transaction.is_active:
                        self.transaction.rollback()
                finally:
                    if self.read_only and not self.connection.invalidated:
                        self.connection.connection.info.pop(READ_ONLY, None)
                    self.connection.close()
        except Exception:
            # A rollback on a dead connection fails too; the body's own error says more.
            if error is None:
                raise
        if error is not None and (outage := outage_of(error)) is not None:
            raise outage from error

    @cached_property
    def accounts(self) -> AccountRepository:
        return AccountRepository(self.connection)

    @cached_property
    def directory(self) -> DirectoryRepository:
        return DirectoryRepository(self.connection)

    @cached_property
    def keys(self) -> KeyRepository:
        return KeyRepository(self.connection)

    @cached_property
    def surveys(self) -> SurveyRepository:
        return SurveyRepository(self.connection)

    @cached_property
    def campaigns(self) -> CampaignRepository:
        return CampaignRepository(self.connection)

    @cached_property
    def contacts(self) -> ContactRepository:
        return ContactRepository(self.connection)

    @cached_property
    def invitations(self) -> InvitationRepository:
        return InvitationRepository(self.connection)

    @cached_property
    def responses(self) -> ResponseRepository:
        return ResponseRepository(self.connection)

    @cached_property
    def auth_failures(self) -> AuthFailureRepository:
        return AuthFailureRepository(self.connection)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.connection)

    @cached_property
    def attributes(self) -> AttributeRepository:
        return AttributeRepository(self.connection)

    @cached_property
    def lists(self) -> ListRepository:
        return ListRepository(self.connection)

    @cached_property
    def cursors(self) -> ExportCursorRepository:
        return ExportCursorRepository(self.connection)

    @cached_property
    def dump_files(self) -> DumpFileRepository:
        return DumpFileRepository(self.connection)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.connection)


@contextmanager
def _outage_as_unavailable() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        outage = outage_of(error)
        if outage is None:
            raise
        raise outage from error
