"""The unit of work: one transaction, its repositories, explicit commit."""
from __future__ import annotations

from functools import cached_property

from sqlalchemy.engine import Engine

from service.storage.engine import READ_ONLY
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


class SqlUnitOfWork:
    """``with uow:`` opens a transaction; leaving without ``commit()`` rolls it back.

    Repositories are made on first use: a call touches three or four of them.
    """

    def __init__(self, engine: Engine, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only

    def __enter__(self) -> "SqlUnitOfWork":
        connection = self.engine.connect()
        if self.read_only:
            connection = connection.execution_options(**{READ_ONLY: True})
        self.connection = connection
        self.transaction = connection.begin()
        return self

    def commit(self) -> None:
        self.transaction.commit()

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.transaction.is_active:
                self.transaction.rollback()
        finally:
            self.connection.close()

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
