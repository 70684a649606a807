"""The messages of API v1 (docs/api.md is generated from them): one request and one result per operation.

Field names are the public contract on every door. Required fields have no
default; optional ones default to None or an empty list.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.domain.distribution import SETTING_LIMITS
from service.services.schema import wire

MAX_QUESTIONS = 200
MAX_PARAMS = 50


@dataclass
class Param:
    """A name/value pair embedded in a tracking URL or captured from one."""

    name: str = wire(max_len=64)
    value: str = wire(max_len=1000)


@dataclass
class Attribute:
    """A background attribute of a contact (e.g. region, name)."""

    name: str = wire(max_len=64)
    value: str = wire(max_len=1000)


@dataclass
class Answer:
    """One answer: a question key and a value (a multi-choice answer repeats the key)."""

    key: str = wire(max_len=64)
    value: str = wire(max_len=5000)


@dataclass
class Question:
    """A survey question."""

    key: str = wire(max_len=64, doc="Stable identifier, e.g. 'nps' or 'comment'.")
    type: str = wire(max_len=16, doc="nps, rating, single, multi, text or email.")
    text: str = wire(max_len=2000)
    required: bool = wire(False)
    choices: list[str] = wire([], max_items=100)
    min: int | None = wire(None, min=0, max=100)
    max: int | None = wire(None, min=0, max=100)


# --- surveys -----------------------------------------------------------------

@dataclass
class CreateSurveyRequest:
    title: str = wire(max_len=200)
    language: str = wire(max_len=8, doc="en, es, sv, fr, de or cs.")
    questions: list[Question] = wire(max_items=MAX_QUESTIONS, min_items=1)
    intro: str | None = wire(None, max_len=5000)
    thank_you: str | None = wire(None, max_len=5000)
    allow_language_override: bool | None = wire(None)


@dataclass
class CreateSurveyResult:
    survey_id: int


@dataclass
class GetSurveyRequest:
    survey_id: int = wire(min=1)
    version: int | None = wire(None, min=1, doc="An earlier version; the current one by default.")


@dataclass
class UpdateSurveyRequest:
    survey_id: int = wire(min=1)
    title: str | None = wire(None, max_len=200)
    language: str | None = wire(None, max_len=8, doc="en, es, sv, fr, de or cs.")
    questions: list[Question] = wire([], max_items=MAX_QUESTIONS, doc=(
        "The new questions in their new order (none: unchanged). A key keeps its type "
        "across versions."))
    intro: str | None = wire(None, max_len=5000)
    thank_you: str | None = wire(None, max_len=5000)
    allow_language_override: bool | None = wire(None)


@dataclass
class SurveyInfo:
    survey_id: int
    title: str
    language: str
    intro: str
    thank_you: str
    allow_language_override: bool
    questions: list[Question]
    created_at: datetime
    version: int = wire(1, doc="Each UpdateSurvey makes the next version.")


@dataclass
class ListSurveysRequest:
    offset: int | None = wire(None, min=0)
    limit: int | None = wire(None, min=1, max=500)


@dataclass
class ListSurveysResult:
    surveys: list[SurveyInfo]
    total: int


# --- campaigns ---------------------------------------------------------------

@dataclass
class CreateCampaignRequest:
    survey_id: int = wire(min=1)
    name: str = wire(max_len=200)
    delivery: str | None = wire(None, max_len=16, doc="crm (the caller sends the link) or email.")
    send_delay_minutes: int | None = wire(None, min=0, max=SETTING_LIMITS["send_delay_minutes"])
    reminder_days: int | None = wire(None, min=0, max=SETTING_LIMITS["reminder_days"])
    max_reminders: int | None = wire(None, min=0, max=SETTING_LIMITS["max_reminders"])
    quarantine_days: int | None = wire(None, min=0, max=SETTING_LIMITS["quarantine_days"])
    quarantine_scope: str | None = wire(None, max_len=16, doc="campaign or account.")
    link_valid_days: int | None = wire(None, min=0, max=SETTING_LIMITS["link_valid_days"])
    recurrence_days: int | None = wire(None, min=0, max=SETTING_LIMITS["recurrence_days"])
    invitation_subject: str | None = wire(None, max_len=300)
    invitation_text: str | None = wire(None, max_len=20000)
    invitation_html: str | None = wire(None, max_len=100000)
    reminder_subject: str | None = wire(None, max_len=300)
    reminder_text: str | None = wire(None, max_len=20000)
    reminder_html: str | None = wire(None, max_len=100000)
    notify_emails: list[str] = wire([], max_items=20)
    notify_on: str | None = wire(None, max_len=16, doc="all or detractors.")
    crm_push: bool | None = wire(None)
    crm_tag: str | None = wire(None, max_len=100)
    recurrence_list: str | None = wire(None, max_len=200,
                                       doc="With recurrence_days: the list invited again.")
    dump_every: str | None = wire(None, max_len=16, doc="Scheduled dumps: daily or weekly (Mondays).")
    dump_at: str | None = wire(None, max_len=5, doc="UTC time of the scheduled dump, HH:MM.")
    dump_format: str | None = wire(None, max_len=8, doc="csv, jsonl or xml.")
    dump_gzip: bool | None = wire(None)
    webhooks: list[str] = wire([], max_items=10)


@dataclass
class CreateCampaignResult:
    campaign_id: int
    open_url: str


@dataclass
class GetCampaignRequest:
    campaign_id: int = wire(min=1)


@dataclass
class CampaignInfo:
    campaign_id: int
    survey_id: int
    name: str
    status: str
    delivery: str
    send_delay_minutes: int
    reminder_days: int
    max_reminders: int
    quarantine_days: int
    quarantine_scope: str
    link_valid_days: int
    recurrence_days: int
    invitation_subject: str
    invitation_text: str
    invitation_html: str
    reminder_subject: str
    reminder_text: str
    reminder_html: str
    notify_emails: list[str]
    notify_on: str
    crm_push: bool
    crm_tag: str
    webhooks: list[str]
    recurrence_list: str
    dump_every: str
    dump_at: str
    dump_format: str
    dump_gzip: bool
    open_url: str
    created_at: datetime
    updated_at: datetime


@dataclass
class ListCampaignsRequest:
    survey_id: int | None = wire(None, min=1)
    status: str | None = wire(None, max_len=16)


@dataclass
class ListCampaignsResult:
    campaigns: list[CampaignInfo]


# --- triggers ----------------------------------------------------------------

@dataclass
class GetTrackingUrlRequest:
    campaign_id: int = wire(min=1)
    email: str = wire(max_len=254)
    params: list[Param] = wire([], max_items=MAX_PARAMS,
                               doc="Embedded in the link and captured with the answers.")
    attributes: list[Attribute] = wire([], max_items=MAX_PARAMS)
    crm_id: str | None = wire(None, max_len=100)
    event_id: str | None = wire(None, max_len=200,
                                doc="Your id of the triggering event: a repeat returns the first result.")


@dataclass
class TrackingUrl:
    url: str
    invitation_id: int
    status: str
    expires_at: datetime | None = None


# --- results -----------------------------------------------------------------

@dataclass
class RecordResponseRequest:
    answers: list[Answer] = wire(max_items=1000, min_items=1)
    invitation_id: int | None = wire(None, min=1)
    token: str | None = wire(None, max_len=100)
    params: list[Param] = wire([], max_items=MAX_PARAMS)


@dataclass
class RecordResponseResult:
    response_id: int


@dataclass
class CorrectResponseRequest:
    response_id: int = wire(min=1)
    answers: list[Answer] = wire(max_items=1000, min_items=1, doc=(
        "The answers to change; the others stay as recorded. An empty value clears an "
        "optional answer."))


@dataclass
class CorrectResponseResult:
    response_id: int
    change: str
    updated_at: datetime
    answers: list[Answer]
    nps_score: int | None = None


@dataclass
class GetContactResultsRequest:
    email: str | None = wire(None, max_len=254)
    crm_id: str | None = wire(None, max_len=100)
    campaign_id: int | None = wire(None, min=1)


@dataclass
class CampaignResult:
    campaign_id: int
    campaign_name: str
    response_id: int
    submitted_at: datetime
    answers: list[Answer]
    params: list[Param]
    extra_params: list[Param]
    nps_score: int | None = None
    nps_category: str | None = None


@dataclass
class ContactResults:
    email: str
    results: list[CampaignResult]
    crm_id: str | None = None


@dataclass
class ExportResponsesRequest:
    campaign_id: int = wire(min=1)
    after: str | None = wire(None, max_len=40, doc="next_cursor of the previous page; empty to start.")
    limit: int | None = wire(None, min=1, max=1000)


@dataclass
class ExportRecord:
    response_id: int
    cursor: str
    change: str
    campaign_id: int
    submitted_at: datetime
    updated_at: datetime
    answers: list[Answer]
    params: list[Param]
    extra_params: list[Param]
    invitation_id: int | None = None
    email: str | None = None
    crm_id: str | None = None
    nps_score: int | None = None
    nps_category: str | None = None
    survey_version: int | None = wire(None, doc="The version of the survey that was answered.")


@dataclass
class ExportPage:
    records: list[ExportRecord]
    next_cursor: str
    has_more: bool


# --- keys ----------------------------------------------------------------------

@dataclass
class CreateApiKeyRequest:
    scopes: list[str] = wire(max_items=3, min_items=1, doc="trigger, read and/or admin.")
    label: str | None = wire(None, max_len=200)
    expires_at: datetime | None = wire(None)
    replaces: str | None = wire(None, max_len=40, doc=(
        "Rotation: a key this one replaces. Both work until the old one expires "
        "after replaced_grace_hours."))
    replaced_grace_hours: int | None = wire(None, min=0, max=24 * 90)


@dataclass
class NewApiKey:
    key_id: str
    secret: str
    scopes: list[str]
    label: str
    created_at: datetime
    expires_at: datetime | None = None


@dataclass
class ListApiKeysRequest:
    include_revoked: bool | None = wire(None)


@dataclass
class ApiKeyInfo:
    key_id: str
    scopes: list[str]
    label: str
    created_at: datetime
    active: bool
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass
class ListApiKeysResult:
    keys: list[ApiKeyInfo]


@dataclass
class RevokeApiKeyRequest:
    key_id: str = wire(max_len=40)


@dataclass
class RevokeApiKeyResult:
    key_id: str
    revoked_at: datetime


# --- privacy and audit ------------------------------------------------------------

@dataclass
class EraseContactRequest:
    email: str = wire(max_len=254)


@dataclass
class EraseContactResult:
    contact_id: int
    invitations: int
    responses: int


@dataclass
class ExportContactDataRequest:
    email: str = wire(max_len=254)


@dataclass
class InvitationData:
    invitation_id: int
    campaign_id: int
    status: str
    created_at: datetime
    params: list[Param]
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    responded_at: datetime | None = None
    expires_at: datetime | None = None
    event_id: str | None = None


@dataclass
class ResponseData:
    response_id: int
    campaign_id: int
    submitted_at: datetime
    answers: list[Answer]
    params: list[Param]
    extra_params: list[Param]


@dataclass
class ContactData:
    email: str
    attributes: list[Attribute]
    created_at: datetime
    updated_at: datetime
    invitations: list[InvitationData]
    responses: list[ResponseData]
    crm_id: str | None = None
    unsubscribed_at: datetime | None = None


@dataclass
class ListAuditLogRequest:
    since: datetime | None = wire(None)
    limit: int | None = wire(None, min=1, max=1000)


@dataclass
class AuditEntry:
    at: datetime
    key_id: str
    operation: str
    target: str


@dataclass
class ListAuditLogResult:
    entries: list[AuditEntry]


# --- distribution -------------------------------------------------------------------

MAX_BULK = 10_000


@dataclass
class Respondent:
    """One row of AddRespondents: who to invite, with what, and when."""

    email: str = wire(max_len=254)
    crm_id: str | None = wire(None, max_len=100)
    attributes: list[Attribute] = wire([], max_items=MAX_PARAMS)
    params: list[Param] = wire([], max_items=MAX_PARAMS)
    event_id: str | None = wire(None, max_len=200)
    send_at: datetime | None = wire(None, doc="When to send (email delivery); default: now + the campaign's delay.")


@dataclass
class AddRespondentsRequest:
    campaign_id: int = wire(min=1)
    respondents: list[Respondent] = wire(max_items=MAX_BULK, min_items=1)


@dataclass
class RespondentResult:
    """The outcome of one row, in row order: scheduled, sent, suppressed, duplicate or invalid."""

    row: int
    status: str
    email: str | None = None
    reason: str | None = None
    until: datetime | None = None
    invitation_id: int | None = None
    url: str | None = None


@dataclass
class AddRespondentsResult:
    results: list[RespondentResult]
    scheduled: int
    sent: int
    suppressed: int
    duplicate: int
    invalid: int


@dataclass
class ContactRow:
    email: str = wire(max_len=254)
    crm_id: str | None = wire(None, max_len=100)
    attributes: list[Attribute] = wire([], max_items=MAX_PARAMS)


@dataclass
class UpsertContactsRequest:
    contacts: list[ContactRow] = wire(max_items=MAX_BULK, min_items=1)


@dataclass
class ContactResult:
    row: int
    status: str
    email: str | None = None
    contact_id: int | None = None
    reason: str | None = None


@dataclass
class UpsertContactsResult:
    results: list[ContactResult]


@dataclass
class DefineAttributeRequest:
    name: str = wire(max_len=64)
    kind: str = wire(max_len=16, doc="ordinal (values in report order) or text (free).")
    values: list[str] = wire([], max_items=500)


@dataclass
class AttributeInfo:
    name: str
    kind: str
    values: list[str]


@dataclass
class ListAttributesRequest:
    name: str | None = wire(None, max_len=64)


@dataclass
class ListAttributesResult:
    attributes: list[AttributeInfo]


@dataclass
class SyncListRequest:
    list_name: str = wire(max_len=200)
    mode: str = wire(max_len=16, doc="add, remove or replace (the list becomes exactly these).")
    contacts: list[ContactRow] = wire([], max_items=MAX_BULK)


@dataclass
class RowError:
    row: int
    reason: str
    email: str | None = None


@dataclass
class SyncListResult:
    list_name: str
    added: int
    removed: int
    unchanged: int
    members: int
    rejected: list[RowError]


@dataclass
class GetInvitationRequest:
    invitation_id: int = wire(min=1)


@dataclass
class HistoryEvent:
    at: datetime
    event: str
    detail: str


@dataclass
class InvitationInfo:
    invitation_id: int
    campaign_id: int
    email: str
    status: str
    created_at: datetime
    reminders_sent: int
    url: str
    params: list[Param]
    history: list[HistoryEvent]
    attributes: list[Attribute] = wire([], doc="The contact's attributes as they were at this send.")
    crm_id: str | None = None
    event_id: str | None = None
    send_at: datetime | None = None
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    responded_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass
class CancelInvitationRequest:
    invitation_id: int = wire(min=1)
    reason: str | None = wire(None, max_len=200,
                              doc="Kept in the invitation's history, e.g. 'order returned'.")


@dataclass
class CancelInvitationResult:
    invitation_id: int
    status: str
    cancelled_at: datetime


@dataclass
class CloseCampaignRequest:
    campaign_id: int = wire(min=1)


@dataclass
class ListNonRespondersRequest:
    campaign_id: int = wire(min=1)
    since: datetime | None = wire(None, doc="Only invitations created at or after this time.")
    offset: int | None = wire(None, min=0)
    limit: int | None = wire(None, min=1, max=1000)


@dataclass
class NonResponder:
    invitation_id: int
    email: str
    status: str
    created_at: datetime
    reminders_sent: int
    url: str
    crm_id: str | None = None
    sent_at: datetime | None = None


@dataclass
class ListNonRespondersResult:
    invitations: list[NonResponder]
    total: int


@dataclass
class UpdateCampaignRequest:
    campaign_id: int = wire(min=1)
    name: str | None = wire(None, max_len=200)
    status: str | None = wire(None, max_len=16, doc="active, paused or closed.")
    send_delay_minutes: int | None = wire(None, min=0, max=SETTING_LIMITS["send_delay_minutes"])
    reminder_days: int | None = wire(None, min=0, max=SETTING_LIMITS["reminder_days"])
    max_reminders: int | None = wire(None, min=0, max=SETTING_LIMITS["max_reminders"])
    quarantine_days: int | None = wire(None, min=0, max=SETTING_LIMITS["quarantine_days"])
    quarantine_scope: str | None = wire(None, max_len=16)
    link_valid_days: int | None = wire(None, min=0, max=SETTING_LIMITS["link_valid_days"])
    recurrence_days: int | None = wire(None, min=0, max=SETTING_LIMITS["recurrence_days"])
    invitation_subject: str | None = wire(None, max_len=300)
    invitation_text: str | None = wire(None, max_len=20000)
    invitation_html: str | None = wire(None, max_len=100000)
    reminder_subject: str | None = wire(None, max_len=300)
    reminder_text: str | None = wire(None, max_len=20000)
    reminder_html: str | None = wire(None, max_len=100000)
    notify_on: str | None = wire(None, max_len=16)
    crm_push: bool | None = wire(None)
    crm_tag: str | None = wire(None, max_len=100)
    recurrence_list: str | None = wire(None, max_len=200)
    dump_every: str | None = wire(None, max_len=16)
    dump_at: str | None = wire(None, max_len=5)
    dump_format: str | None = wire(None, max_len=8)
    dump_gzip: bool | None = wire(None)


# --- contacts from the CRM side -------------------------------------------------------

@dataclass
class GetContactRequest:
    email: str | None = wire(None, max_len=254)
    crm_id: str | None = wire(None, max_len=100)


@dataclass
class ContactInfo:
    contact_id: int
    email: str
    attributes: list[Attribute]
    lists: list[str]
    created_at: datetime
    updated_at: datetime
    crm_id: str | None = None
    suppressed_at: datetime | None = wire(None, doc="When the person opted out (then never invited).")
    suppressed_via: str | None = wire(None, doc="link (the unsubscribe page) or crm (SuppressContact).")


@dataclass
class ListContactsRequest:
    list_name: str | None = wire(None, max_len=200, doc="Only the members of this list.")
    filters: list[AttributeFilter] = wire([], max_items=20,
                                            doc="Only contacts with one of the values of each.")
    offset: int | None = wire(None, min=0)
    limit: int | None = wire(None, min=1, max=1000)


@dataclass
class ListContactsResult:
    contacts: list[ContactInfo]
    total: int


@dataclass
class SuppressContactRequest:
    email: str = wire(max_len=254)


@dataclass
class ListSuppressionsRequest:
    offset: int | None = wire(None, min=0)
    limit: int | None = wire(None, min=1, max=1000)


# --- metrics ----------------------------------------------------------------------

@dataclass
class AttributeFilter:
    """Keep contacts whose attribute ``name`` has one of ``values``."""

    name: str = wire(max_len=64)
    values: list[str] = wire(max_items=500, min_items=1)


@dataclass
class GetCampaignMetricsRequest:
    campaign_id: int = wire(min=1)
    date_from: datetime | None = wire(None, doc="Invitations created and responses submitted from this time.")
    date_to: datetime | None = wire(None, doc="... and before this time.")
    filters: list[AttributeFilter] = wire([], max_items=20)
    breakdown: str | None = wire(None, max_len=64, doc="An attribute to break the figures down by.")


@dataclass
class RatingAverage:
    key: str
    count: int
    average: float | None = None


@dataclass
class MetricsGroup:
    value: str
    invited: int
    sent: int
    opened: int
    responded: int
    promoters: int
    passives: int
    detractors: int
    response_rate: float | None = None
    nps: float | None = None


@dataclass
class CampaignMetrics:
    campaign_id: int
    invited: int
    sent: int
    opened: int
    responded: int
    promoters: int
    passives: int
    detractors: int
    ratings: list[RatingAverage]
    breakdown: list[MetricsGroup]
    response_rate: float | None = None
    nps: float | None = None


# --- dump files --------------------------------------------------------------------

@dataclass
class ListDumpsRequest:
    campaign_id: int | None = wire(None, min=1)
    limit: int | None = wire(None, min=1, max=1000)


@dataclass
class DumpFile:
    name: str
    campaign_id: int
    format: str
    gzip: bool
    cursor_from: str
    cursor_to: str
    rows: int
    size: int
    sha256: str
    created_at: datetime
    url: str
    manifest_url: str


@dataclass
class ListDumpsResult:
    dumps: list[DumpFile]


# --- deliveries (outbox) -------------------------------------------------------------

@dataclass
class ListDeliveriesRequest:
    state: str | None = wire(None, max_len=16, doc="pending, delivered or dead.")
    limit: int | None = wire(None, min=1, max=1000)


@dataclass
class Delivery:
    delivery_id: int
    kind: str
    event: str
    target: str
    state: str
    attempts: int
    idempotency_key: str
    created_at: datetime
    truncated: list[str] = wire([], doc="Fields cut to 255 characters for the CRM.")
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None


@dataclass
class ListDeliveriesResult:
    deliveries: list[Delivery]


@dataclass
class RetryDeliveryRequest:
    delivery_id: int = wire(min=1)


@dataclass
class RotateWebhookSecretRequest:
    confirm: bool = wire(doc="true: replace the signing secret now (receivers must switch).")


@dataclass
class WebhookSecret:
    secret: str
    created_at: datetime


# --- CRM push ----------------------------------------------------------------------

@dataclass
class ConfigureCrmPushRequest:
    connector: str = wire(max_len=16, doc="salesmanago, or generic (a signed JSON POST).")
    endpoint: str = wire(max_len=2000, doc="Base URL of the CRM's API (or the generic receiver).")
    client_id: str = wire(max_len=200)
    api_secret: str = wire(max_len=500, doc="Stored encrypted; no operation ever returns it.")
    api_key: str | None = wire(None, max_len=200, doc="SALESmanago: the API key.")
    owner: str | None = wire(None, max_len=254, doc="SALESmanago: the owner's email.")
    client_id_param: str | None = wire(None, max_len=64,
                                       doc="URL parameter carrying the CRM contact id (smclientid).")
    field_prefix: str | None = wire(None, max_len=64, doc="Prefix of the contact fields (survey.).")


@dataclass
class GetCrmPushRequest:
    pass


@dataclass
class CrmPushInfo:
    configured: bool
    connector: str | None = None
    endpoint: str | None = None
    client_id: str | None = None
    owner: str | None = None
    client_id_param: str | None = None
    field_prefix: str | None = None
    updated_at: datetime | None = None
