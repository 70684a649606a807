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
    A read-only one on PostgreSQL runs its statements in autocommit instead (see
    _reads_in_autocommit).

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
        info = connection.connection.info   # the pooled connection's, read by SQLite's BEGIN
        self._autocommit = self.read_only and _reads_in_autocommit(self.engine)
        try:
            if self.read_only:
                info[READ_ONLY] = True
            if self._autocommit:
                connection.connection.driver_connection.autocommit = True
            with _outage_as_unavailable():
                self.transaction = connection.begin()
        except Exception:
            self._end_autocommit()
            connection.close()
            raise
        finally:
            info.pop(READ_ONLY, None)
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
                    self._end_autocommit()
                    self.connection.close()
        except Exception:
            # A rollback on a dead connection fails too; the body's own error says more.
            if error is None:
                raise
        if error is not None and (outage := outage_of(error)) is not None:
            raise outage from error

    def _end_autocommit(self) -> None:
        """The pooled connection goes back with transactions on, as it came; one whose
        state is no longer known (broken) is invalidated for the pool to replace."""
        if not self._autocommit or self.connection.invalidated:
            return
        driver = self.connection.connection.driver_connection
        if driver.info.transaction_status == _PG_IDLE:
            driver.autocommit = False
        else:
            self.connection.invalidate()

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


#: psycopg's ``pq.TransactionStatus.IDLE``: connected, no transaction open.
_PG_IDLE = 0


def _reads_in_autocommit(engine: Engine) -> bool:
    """Whether read-only units of work run without a transaction: on PostgreSQL at READ
    COMMITTED (its default), where each statement of a transaction takes a snapshot of
    its own anyway, so a read sees the same without BEGIN and ROLLBACK, two round trips
    of three for a lone statement. A read that streams through a server-side cursor
    opens a transaction first (repositories.base.streamed). At another isolation level
    (a server configured for REPEATABLE READ) reads keep their transaction and its one
    snapshot."""
    dialect = engine.dialect
    return (dialect.name == "postgresql"
            and getattr(dialect, "default_isolation_level", None) == "READ COMMITTED")


@contextmanager
def _outage_as_unavailable() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        outage = outage_of(error)
        if outage is None:
            raise
        raise outage from error
