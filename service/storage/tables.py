"""The database schema. Alembic migrations in db/ must produce exactly this."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import DateTime, TypeDecorator

from service.domain.distribution import Status

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to storage; use aware UTC datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)

    def bind_processor(self, dialect):
        """On SQLite, the text SQLAlchemy's DATETIME stores, written in one step: its own
        processor formats seven fields through a dict, which a 10,000-row call pays
        80,000 times (the equality of both forms is tested)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        naive = self.process_bind_param
        # The last moment converted, with its text: the rows of a bulk statement carry the
        # same moment (the call's "now") 10,000 times. One tuple, swapped whole, so that
        # threads sharing this processor never pair one moment with another's text.
        last: tuple[datetime | None, str | None] = (None, None)

        def process(value: datetime | None) -> str | None:
            nonlocal last
            seen, text = last
            if value is seen:   # the same (immutable) object
                return text
            text = None if value is None else naive(value, dialect).isoformat(
                " ", "microseconds")
            last = (value, text)
            return text
        return process


#: Ids are 64-bit (a large deployment writes over 2**31 history events a year); on SQLite
#: INTEGER is 64-bit already, and only an INTEGER PRIMARY KEY is the autoincrementing rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _where(column: str, values: tuple[str, ...]) -> dict:
    """The predicate of a partial index: ``column`` among literal ``values``, as the
    worker's claims write it (InvitationRepository, OutboxRepository: ``among_literals``)."""
    predicate = text(f"{column} IN ({', '.join(repr(v) for v in values)})")
    return {"sqlite_where": predicate, "postgresql_where": predicate}


def _id() -> Column:
    return Column("id", Id, primary_key=True)


def _account() -> Column:
    return Column("account_id", Id, ForeignKey("accounts.id"), nullable=False)


def _owned_row() -> tuple[Column, Column, PrimaryKeyConstraint]:
    """The id and account of an account's row, and its primary key (account_id, id): a
    distributed table's unique keys must contain the distribution column. This is the
    PostgreSQL form; SQLite keeps the lone rowid primary key (its only autoincrementing
    column; no DDL is generated from these tables), with a unique (account_id, id) index
    where a foreign key refers to the table (revision 0014)."""
    return (Column("id", Id, autoincrement=True), _account(),
            PrimaryKeyConstraint("account_id", "id"))


def _owned_by(table: str, column: str, parent: str) -> ForeignKeyConstraint:
    """``column`` of ``table`` refers to a row of ``parent`` of the same account."""
    return ForeignKeyConstraint(["account_id", column], [f"{parent}.account_id", f"{parent}.id"],
                                name=f"fk_{table}_{column}_{parent}")


accounts = Table(
    "accounts", metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Serialises export positions: see ResponseRepository.assign_position.
    Column("response_position", BigInteger, nullable=False, server_default="0"),
)

api_keys = Table(
    "api_keys", metadata,
    *_owned_row(),
    Column("key_id", String(40), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(100), nullable=False),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    # Key ids are unique across accounts through the directory (a reference table).
    UniqueConstraint("account_id", "key_id", name="uq_api_keys_account_key_id"),
)

directory = Table(
    "directory", metadata,
    # Identifiers that arrive without their account (kind "key": API key ids, "campaign":
    # open links' public ids), each written with the row it names: their global uniqueness,
    # and on Citus a small reference table beside the distributed ones (docs/scale.md).
    Column("kind", String(16), primary_key=True),
    Column("identifier", String(64), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
)

surveys = Table(
    "surveys", metadata,
    *_owned_row(),
    Column("title", String(200), nullable=False),
    Column("language", String(8), nullable=False),
    Column("intro", Text, nullable=False, server_default=""),
    Column("thank_you", Text, nullable=False, server_default=""),
    Column("allow_language_override", Boolean, nullable=False, server_default="1"),
    Column("questions", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
)

survey_versions = Table(
    "survey_versions", metadata,
    # Earlier versions of a survey, as they were until UpdateSurvey replaced them.
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("survey_id", Id, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("language", String(8), nullable=False),
    Column("intro", Text, nullable=False),
    Column("thank_you", Text, nullable=False),
    Column("allow_language_override", Boolean, nullable=False),
    Column("questions", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    _owned_by("survey_versions", "survey_id", "surveys"),
)

campaigns = Table(
    "campaigns", metadata,
    *_owned_row(),
    Column("survey_id", Id, nullable=False),
    Column("public_id", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("delivery", String(16), nullable=False),
    Column("send_delay_minutes", Integer, nullable=False),
    Column("reminder_days", Integer, nullable=False),
    Column("max_reminders", Integer, nullable=False),
    Column("quarantine_days", Integer, nullable=False),
    Column("quarantine_scope", String(16), nullable=False),
    Column("link_valid_days", Integer, nullable=False),
    Column("recurrence_days", Integer, nullable=False),
    Column("templates", JSON, nullable=False),
    Column("notify_emails", JSON, nullable=False),
    Column("notify_on", String(16), nullable=False),
    Column("crm_push", Boolean, nullable=False),
    Column("crm_tag", String(100), nullable=False),
    Column("webhooks", JSON, nullable=False),
    Column("recurrence_list", String(200), nullable=False, server_default=""),
    Column("last_recurrence_at", UTCDateTime),
    # Scheduled dumps: '' (none), 'daily' or 'weekly', at dump_at (HH:MM, UTC).
    Column("dump_every", String(16), nullable=False, server_default=""),
    Column("dump_at", String(5), nullable=False, server_default="02:00"),
    Column("dump_format", String(8), nullable=False, server_default="csv"),
    Column("dump_gzip", Boolean, nullable=False, server_default="0"),
    Column("next_dump_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    _owned_by("campaigns", "survey_id", "surveys"),
    # Public ids are unique across accounts through the directory (a reference table).
    UniqueConstraint("account_id", "public_id", name="uq_campaigns_account_public_id"),
)

contacts = Table(
    "contacts", metadata,
    *_owned_row(),
    Column("email", String(254), nullable=False),
    Column("crm_id", String(100)),
    Column("attributes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("unsubscribed_at", UTCDateTime),
    Column("erased_at", UTCDateTime),
    # Where the opt-out came from: 'link' (the /u/ page) or 'crm' (SuppressContact).
    Column("unsubscribed_via", String(16)),
    UniqueConstraint("account_id", "email", name="uq_contacts_account_email"),
    Index("ix_contacts_account_crm", "account_id", "crm_id"),
)

invitations = Table(
    "invitations", metadata,
    *_owned_row(),
    Column("campaign_id", Id, nullable=False),
    Column("contact_id", Id, nullable=False),
    Column("nonce", LargeBinary(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("event_id", String(200)),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("send_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("opened_at", UTCDateTime),
    Column("responded_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("reminders_sent", Integer, nullable=False, server_default="0"),
    Column("last_reminder_at", UTCDateTime),
    Column("next_reminder_at", UTCDateTime),
    # Email delivery by the worker: failed attempts, when to try again, and the
    # lease a worker holds while it talks to the SMTP server.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", String(500)),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    # The contact's attributes as they were when this send was triggered: reports use them.
    # The default keeps a release from before them inserting during a rolling upgrade.
    Column("attributes", JSON, nullable=False, server_default="{}"),
    _owned_by("invitations", "campaign_id", "campaigns"),
    _owned_by("invitations", "contact_id", "contacts"),
    UniqueConstraint("account_id", "nonce", name="uq_invitations_account_nonce"),
    # Tokens issued before they named their account find it by nonce alone
    # (DirectoryRepository.account_of_nonce); they expire with their campaign's links.
    Index("ix_invitations_nonce", "nonce"),
    UniqueConstraint("account_id", "campaign_id", "event_id",
                     name="uq_invitations_account_campaign_event"),
    Index("ix_invitations_campaign_contact", "account_id", "campaign_id", "contact_id",
          "created_at"),
    Index("ix_invitations_account_contact", "account_id", "contact_id", "created_at"),
    # Partial: only what the worker may still have to mail is in them.
    Index("ix_invitations_due", "account_id", "send_at", **_where("status", Status.UNSENT)),
    Index("ix_invitations_reminder_due", "account_id", "next_reminder_at",
          **_where("status", Status.AWAITING_ANSWER)),
)

responses = Table(
    "responses", metadata,
    *_owned_row(),
    Column("campaign_id", Id, nullable=False),
    Column("invitation_id", Id),
    Column("contact_id", Id),
    Column("answers", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("extra_params", JSON, nullable=False),
    Column("nps_score", Integer),
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # What the next incremental export must say about this row: new, changed, erased.
    Column("change", String(16), nullable=False),
    Column("position", BigInteger, nullable=False),
    # The form nonce of an open-link submission: a repeat of the same form records nothing.
    Column("submission_key", String(43)),
    Column("survey_version", Integer, nullable=False, server_default="1"),
    _owned_by("responses", "campaign_id", "campaigns"),
    _owned_by("responses", "invitation_id", "invitations"),
    _owned_by("responses", "contact_id", "contacts"),
    UniqueConstraint("account_id", "invitation_id", name="uq_responses_account_invitation"),
    UniqueConstraint("account_id", "campaign_id", "submission_key",
                     name="uq_responses_account_campaign_submission"),
    Index("ix_responses_campaign_position", "account_id", "campaign_id", "position"),
    # In the order of a contact's latest response per campaign (ResponseRepository): so
    # that SQLite, without statistics, reads the contact's rows and not the account's.
    Index("ix_responses_contact", "account_id", "contact_id", "campaign_id", "submitted_at"),
)

auth_failures = Table(
    "auth_failures", metadata,
    # One row per client address that failed to authenticate recently.
    Column("address", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("blocked_until", UTCDateTime),
)

audit_log = Table(
    "audit_log", metadata,
    *_owned_row(),
    Column("key_id", String(40), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_audit_log_account_at", "account_id", "at"),
)

attribute_definitions = Table(
    "attribute_definitions", metadata,
    *_owned_row(),
    Column("name", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    # Ordinal attributes: the allowed values in their report order.
    Column("values", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_attribute_definitions_account_name"),
)

contact_lists = Table(
    "contact_lists", metadata,
    *_owned_row(),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_contact_lists_account_name"),
)

list_members = Table(
    "list_members", metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("list_id", Id, primary_key=True),
    Column("contact_id", Id, primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
    _owned_by("list_members", "list_id", "contact_lists"),
    _owned_by("list_members", "contact_id", "contacts"),
)

invitation_events = Table(
    "invitation_events", metadata,
    *_owned_row(),
    Column("invitation_id", Id, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(32), nullable=False),
    Column("detail", String(500), nullable=False, server_default=""),
    _owned_by("invitation_events", "invitation_id", "invitations"),
    Index("ix_invitation_events_account", "account_id", "invitation_id", "id"),
    Index("ix_invitation_events_at", "at"),  # retention
)

export_cursors = Table(
    "export_cursors", metadata,
    # A batch consumer's position in a campaign's response stream (e.g. "crm-nightly").
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("campaign_id", Id, primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    _owned_by("export_cursors", "campaign_id", "campaigns"),
)


dump_files = Table(
    "dump_files", metadata,
    *_owned_row(),
    Column("campaign_id", Id, nullable=False),
    Column("name", String(200), nullable=False),
    Column("format", String(8), nullable=False),
    Column("gzip", Boolean, nullable=False),
    Column("cursor_from", BigInteger, nullable=False),
    Column("cursor_to", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    _owned_by("dump_files", "campaign_id", "campaigns"),
    UniqueConstraint("account_id", "name", name="uq_dump_files_account_name"),
    Index("ix_dump_files_campaign", "account_id", "campaign_id", "created_at"),
)

webhook_secrets = Table(
    "webhook_secrets", metadata,
    # The account's signing secret for webhooks (Standard Webhooks, whsec_...);
    # shown once by RotateWebhookSecret and never returned by any read.
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("secret", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox", metadata,
    *_owned_row(),
    Column("kind", String(16), nullable=False),            # webhook (crm, notification later)
    Column("event", String(64), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("payload", JSON, nullable=False),
    # Sent with every attempt, so that a receiver can drop a repeat.
    Column("idempotency_key", String(100), nullable=False),
    Column("state", String(16), nullable=False),            # pending, delivered, dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", String(500)),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_outbox_due", "account_id", "next_attempt_at", **_where("state", ("pending",))),
    UniqueConstraint("account_id", "idempotency_key", name="uq_outbox_account_idempotency_key"),
    Index("ix_outbox_delivered", "delivered_at", **_where("state", ("delivered",))),  # retention
)

crm_connections = Table(
    "crm_connections", metadata,
    # The account's CRM for contact pushes; the secret is stored encrypted
    # (Fernet, keyed from FEEDLOOP_SECRET_KEY) and returned by no read.
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("connector", String(16), nullable=False),
    Column("endpoint", String(2000), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("api_key", String(200), nullable=False, server_default=""),
    Column("secret_encrypted", Text, nullable=False),
    Column("owner", String(254), nullable=False, server_default=""),
    Column("client_id_param", String(64), nullable=False),
    Column("field_prefix", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
