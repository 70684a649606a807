"""Small named records of what the repositories read: one per table, its columns as fields.

Storage hands these (or domain objects) to the services, never SQLAlchemy rows;
only the streaming reads of exports and metrics yield rows, for speed, with
the columns their docstrings name."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AccountRecord:
    """An account (tenant)."""

    id: int
    name: str
    created_at: datetime
    response_position: int


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: its secret only as a hash."""

    id: int
    account_id: int
    key_id: str
    secret_hash: str
    scopes: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class AuditRecord:
    """One audited change."""

    id: int
    account_id: int
    key_id: str
    operation: str
    target: str
    at: datetime


@dataclass(frozen=True)
class HistoryRecord:
    """One event of an invitation's history."""

    id: int
    invitation_id: int
    at: datetime
    event: str
    detail: str


@dataclass(frozen=True)
class AttributeDefinitionRecord:
    """An attribute's definition: ordinal (ordered values) or text."""

    id: int
    account_id: int
    name: str
    kind: str
    values: Any
    created_at: datetime


@dataclass(frozen=True)
class DumpFileRecord:
    """A scheduled dump file written to the dump store."""

    id: int
    account_id: int
    campaign_id: int
    name: str
    format: str
    gzip: bool
    cursor_from: int
    cursor_to: int
    rows: int
    size: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class OutboxRecord:
    """An effect waiting in (or delivered from) the outbox."""

    id: int
    account_id: int
    kind: str
    event: str
    target: str
    payload: Any
    idempotency_key: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    lease_owner: str | None
    lease_until: datetime | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class CrmConnectionRecord:
    """An account's CRM connector settings (the secret encrypted)."""

    account_id: int
    connector: str
    endpoint: str
    client_id: str
    api_key: str
    secret_encrypted: str
    owner: str
    client_id_param: str
    field_prefix: str
    updated_at: datetime


@dataclass(frozen=True)
class ResponseRecord:
    """A response as stored."""

    id: int
    account_id: int
    campaign_id: int
    invitation_id: int | None
    contact_id: int | None
    answers: Any
    params: Any
    extra_params: Any
    nps_score: int | None
    submitted_at: datetime
    updated_at: datetime
    change: str
    position: int
    submission_key: str | None
    survey_version: int


@dataclass(frozen=True)
class ContactRecord:
    """A contact with every stored column (erasure and access requests)."""

    id: int
    account_id: int
    email: str
    crm_id: str | None
    attributes: Any
    created_at: datetime
    updated_at: datetime
    unsubscribed_at: datetime | None
    erased_at: datetime | None
    unsubscribed_via: str | None = None


@dataclass(frozen=True)
class CampaignResponseRecord(ResponseRecord):
    """A response with the name of its campaign."""

    campaign_name: str
