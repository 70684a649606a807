"""The unit of work: one transaction, its repositories, explicit commit."""
from __future__ import annotations

from sqlalchemy.engine import Engine

from service.storage.engine import READ_ONLY
from service.storage.repositories import (AccountRepository, AttributeRepository,
                                          AuditRepository, DumpFileRepository,
                                          ExportCursorRepository,
                                          ListRepository, OutboxRepository,
                                          AuthFailureRepository, CampaignRepository,
                                          ContactRepository, InvitationRepository,
                                          KeyRepository, ResponseRepository, SurveyRepository)


class SqlUnitOfWork:
    """``with uow:`` opens a transaction; leaving without ``commit()`` rolls it back."""

    def __init__(self, engine: Engine, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only

    def __enter__(self) -> "SqlUnitOfWork":
        connection = self.engine.connect()
        if self.read_only:
            connection = connection.execution_options(**{READ_ONLY: True})
        self.connection = connection
        self.transaction = connection.begin()
        self.accounts = AccountRepository(connection)
        self.keys = KeyRepository(connection)
        self.surveys = SurveyRepository(connection)
        self.campaigns = CampaignRepository(connection)
        self.contacts = ContactRepository(connection)
        self.invitations = InvitationRepository(connection)
        self.responses = ResponseRepository(connection)
        self.auth_failures = AuthFailureRepository(connection)
        self.audit = AuditRepository(connection)
        self.attributes = AttributeRepository(connection)
        self.lists = ListRepository(connection)
        self.cursors = ExportCursorRepository(connection)
        self.dump_files = DumpFileRepository(connection)
        self.outbox = OutboxRepository(connection)
        return self

    def commit(self) -> None:
        self.transaction.commit()

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.transaction.is_active:
                self.transaction.rollback()
        finally:
            self.connection.close()
