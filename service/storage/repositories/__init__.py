"""Repositories, one module per aggregate; each returns domain objects or small records.

Every query of an account's data is filtered by its account. The unit of work
(service.storage.uow) makes them; services reach them only through it.
"""
from service.storage.repositories.accounts import (
                                                   AccountRepository,
                                                   AuditRepository,
                                                   AuthFailureRepository,
                                                   DirectoryRepository,
                                                   KeyRepository,
)
from service.storage.repositories.contacts import (
                                                   ContactChange,
                                                   ContactRepository,
                                                   ListRepository,
)
from service.storage.repositories.invitations import (
                                                   InvitationRepository,
                                                   InvitedContact,
)
from service.storage.repositories.outbox import OutboxRepository
from service.storage.repositories.responses import (
                                                   DumpFileRepository,
                                                   ExportCursorRepository,
                                                   ResponseRepository,
)
from service.storage.repositories.surveys import (
                                                   AttributeRepository,
                                                   CampaignRepository,
                                                   SurveyRepository,
)

__all__ = ["AccountRepository", "AttributeRepository", "AuditRepository",
           "AuthFailureRepository", "CampaignRepository", "ContactChange", "ContactRepository",
           "DirectoryRepository", "DumpFileRepository", "ExportCursorRepository", "InvitationRepository",
           "InvitedContact", "KeyRepository", "ListRepository", "OutboxRepository",
           "ResponseRepository", "SurveyRepository"]
