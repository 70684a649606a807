"""Repositories: the queries of each aggregate, scoped to one account wherever it applies."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import any_, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from service.domain.distribution import Campaign, Invitation
from service.domain.errors import Conflict, DuplicateEvent
from service.domain.surveys import Contact, Question, Survey
from service.storage.tables import (accounts, api_keys, attribute_definitions, audit_log,
                                    auth_failures, campaigns, contact_lists, contacts,
                                    crm_connections, dump_files, export_cursors, outbox,
                                    webhook_secrets,
                                    invitation_events, invitations, list_members, responses,
                                    surveys)

#: Rows per IN (...) list or multi-row statement: well inside every backend's limits.
CHUNK = 500


def _among(connection: Connection, column, values: list):
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of hundreds."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class _Repository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _one(self, statement) -> Row | None:
        return self.connection.execute(statement).first()


class AccountRepository(_Repository):
    def get_by_name(self, name: str) -> Row | None:
        return self._one(select(accounts).where(accounts.c.name == name))

    def get(self, account_id: int) -> Row | None:
        return self._one(select(accounts).where(accounts.c.id == account_id))

    def add(self, name: str, now: datetime) -> int:
        return self.connection.execute(
            insert(accounts).values(name=name, created_at=now).returning(accounts.c.id)).scalar_one()

    def count(self) -> int:
        return self.connection.execute(select(func.count()).select_from(accounts)).scalar_one()


class KeyRepository(_Repository):
    def add(self, account_id: int, key_id: str, secret_hash: str, scopes: list[str], label: str,
            now: datetime, expires_at: datetime | None) -> None:
        self.connection.execute(insert(api_keys).values(
            account_id=account_id, key_id=key_id, secret_hash=secret_hash,
            scopes=" ".join(scopes), label=label, created_at=now, expires_at=expires_at))

    def get(self, key_id: str) -> Row | None:
        return self._one(select(api_keys).where(api_keys.c.key_id == key_id))

    def list(self, account_id: int, include_revoked: bool) -> list[Row]:
        query = select(api_keys).where(api_keys.c.account_id == account_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        return list(self.connection.execute(query.order_by(api_keys.c.id)))

    def revoke(self, account_id: int, key_id: str, now: datetime) -> bool:
        result = self.connection.execute(update(api_keys).where(
            api_keys.c.account_id == account_id, api_keys.c.key_id == key_id,
            api_keys.c.revoked_at.is_(None)).values(revoked_at=now))
        return result.rowcount == 1

    def expire(self, key_id: str, at: datetime) -> None:
        self.connection.execute(
            update(api_keys).where(api_keys.c.key_id == key_id).values(expires_at=at))

    def touch(self, key_id: str, now: datetime) -> None:
        self.connection.execute(
            update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=now))


def _survey(row: Row) -> Survey:
    questions = tuple(Question(key=q["key"], type=q["type"], text=q["text"],
                               required=q.get("required", False),
                               choices=tuple(q.get("choices", ())), min=q.get("min"),
                               max=q.get("max")) for q in row.questions)
    return Survey(id=row.id, title=row.title, language=row.language, questions=questions,
                  intro=row.intro, thank_you=row.thank_you,
                  allow_language_override=row.allow_language_override)


class SurveyRepository(_Repository):
    def add(self, account_id: int, survey: Survey, now: datetime) -> int:
        questions = [{"key": q.key, "type": q.type, "text": q.text, "required": q.required,
                      "choices": list(q.choices), "min": q.min, "max": q.max}
                     for q in survey.questions]
        return self.connection.execute(insert(surveys).values(
            account_id=account_id, title=survey.title, language=survey.language,
            intro=survey.intro, thank_you=survey.thank_you,
            allow_language_override=survey.allow_language_override, questions=questions,
            created_at=now).returning(surveys.c.id)).scalar_one()

    def get(self, account_id: int, survey_id: int) -> tuple[Survey, datetime] | None:
        row = self._one(select(surveys).where(surveys.c.account_id == account_id,
                                              surveys.c.id == survey_id))
        return (_survey(row), row.created_at) if row else None

    def list(self, account_id: int, offset: int, limit: int) -> tuple[list[tuple[Survey, datetime]], int]:
        where = surveys.c.account_id == account_id
        rows = self.connection.execute(
            select(surveys).where(where).order_by(surveys.c.id).offset(offset).limit(limit))
        total = self.connection.execute(select(func.count()).where(where)).scalar_one()
        return [(_survey(row), row.created_at) for row in rows], total


_CAMPAIGN_FIELDS = ("survey_id", "name", "status", "delivery", "send_delay_minutes",
                    "reminder_days", "max_reminders", "quarantine_days", "quarantine_scope",
                    "link_valid_days", "recurrence_days", "templates", "notify_emails",
                    "notify_on", "crm_push", "crm_tag", "webhooks", "recurrence_list",
                    "last_recurrence_at", "dump_every", "dump_at", "dump_format", "dump_gzip",
                    "next_dump_at")


def _campaign(row: Row) -> Campaign:
    return Campaign(id=row.id, public_id=row.public_id, created_at=row.created_at,
                    updated_at=row.updated_at, **{name: getattr(row, name) for name in _CAMPAIGN_FIELDS})


class CampaignRepository(_Repository):
    def add(self, account_id: int, campaign: Campaign, now: datetime) -> int:
        values = {name: getattr(campaign, name) for name in _CAMPAIGN_FIELDS}
        return self.connection.execute(insert(campaigns).values(
            account_id=account_id, public_id=campaign.public_id, created_at=now, updated_at=now,
            **values).returning(campaigns.c.id)).scalar_one()

    def get(self, account_id: int, campaign_id: int) -> Campaign | None:
        row = self._one(select(campaigns).where(campaigns.c.account_id == account_id,
                                                campaigns.c.id == campaign_id))
        return _campaign(row) if row else None

    def update(self, campaign: Campaign, now: datetime) -> None:
        self.connection.execute(update(campaigns).where(campaigns.c.id == campaign.id).values(
            updated_at=now, **{name: getattr(campaign, name) for name in _CAMPAIGN_FIELDS}))

    def recurring(self, now: datetime) -> list[tuple[int, Campaign]]:
        """Active campaigns with a recurrence, of every account (their due time is checked after)."""
        rows = self.connection.execute(select(campaigns).where(
            campaigns.c.status == "active", campaigns.c.recurrence_days > 0,
            campaigns.c.recurrence_list != ""))
        return [(row.account_id, _campaign(row)) for row in rows]

    def due_dumps(self, now: datetime) -> list[tuple[int, Campaign]]:
        """Campaigns of every account whose scheduled dump is due."""
        rows = self.connection.execute(select(campaigns).where(
            campaigns.c.dump_every != "", campaigns.c.next_dump_at <= now)
            .order_by(campaigns.c.next_dump_at))
        return [(row.account_id, _campaign(row)) for row in rows]

    def set_next_dump(self, campaign_id: int, at: datetime | None) -> None:
        self.connection.execute(update(campaigns).where(campaigns.c.id == campaign_id)
                                .values(next_dump_at=at))

    def mark_recurrence(self, campaign_id: int, now: datetime) -> None:
        self.connection.execute(update(campaigns).where(campaigns.c.id == campaign_id)
                                .values(last_recurrence_at=now))

    def get_any(self, campaign_id: int) -> tuple[int, Campaign] | None:
        """A campaign of any account, with its account id (operator tools only)."""
        row = self._one(select(campaigns).where(campaigns.c.id == campaign_id))
        return (row.account_id, _campaign(row)) if row else None

    def get_public(self, public_id: str) -> tuple[int, Campaign] | None:
        row = self._one(select(campaigns).where(campaigns.c.public_id == public_id))
        return (row.account_id, _campaign(row)) if row else None

    def list(self, account_id: int, survey_id: int | None, status: str | None) -> list[Campaign]:
        query = select(campaigns).where(campaigns.c.account_id == account_id)
        if survey_id is not None:
            query = query.where(campaigns.c.survey_id == survey_id)
        if status is not None:
            query = query.where(campaigns.c.status == status)
        return [_campaign(row) for row in self.connection.execute(query.order_by(campaigns.c.id))]


def _insert_ignoring_conflicts(connection: Connection, table):
    if connection.dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)


def _contact(row: Row) -> Contact:
    return Contact(id=row.id, email=row.email, crm_id=row.crm_id, attributes=dict(row.attributes))


class ContactRepository(_Repository):
    def get_by_email(self, account_id: int, email: str) -> Contact | None:
        row = self._one(select(contacts).where(contacts.c.account_id == account_id,
                                               contacts.c.email == email))
        return _contact(row) if row else None

    def get_by_crm_id(self, account_id: int, crm_id: str) -> Contact | None:
        row = self._one(select(contacts).where(contacts.c.account_id == account_id,
                                               contacts.c.crm_id == crm_id)
                        .order_by(contacts.c.updated_at.desc()).limit(1))
        return _contact(row) if row else None

    def get(self, account_id: int, contact_id: int) -> Contact | None:
        row = self._one(select(contacts).where(contacts.c.account_id == account_id,
                                               contacts.c.id == contact_id))
        return _contact(row) if row else None

    def upsert(self, account_id: int, email: str, crm_id: str | None,
               attributes: dict[str, str], now: datetime) -> Contact:
        """The contact of ``email``, created or updated with the crm id and attributes given."""
        # INSERT .. ON CONFLICT DO NOTHING: two requests creating the same contact
        # at once both succeed, and the second one then updates what the first made.
        self.connection.execute(_insert_ignoring_conflicts(self.connection, contacts).values(
            account_id=account_id, email=email, crm_id=crm_id, attributes=attributes,
            created_at=now, updated_at=now).on_conflict_do_nothing(
                index_elements=["account_id", "email"]))
        existing = self.get_by_email(account_id, email)
        merged = {**existing.attributes, **attributes}
        new_crm = crm_id if crm_id is not None else existing.crm_id
        if merged != existing.attributes or new_crm != existing.crm_id:
            self.connection.execute(update(contacts).where(contacts.c.id == existing.id).values(
                attributes=merged, crm_id=new_crm, updated_at=now))
        return Contact(id=existing.id, email=email, crm_id=new_crm, attributes=merged)

    def details(self, contact_id: int) -> Row:
        return self._one(select(contacts).where(contacts.c.id == contact_id))

    def erase(self, contact_id: int, now: datetime) -> None:
        """Remove a contact's personal data; the row stays so its answers still count."""
        self.connection.execute(update(contacts).where(contacts.c.id == contact_id).values(
            email=f"erased-{contact_id}@erased.invalid", crm_id=None, attributes={},
            erased_at=now, updated_at=now))

    def upsert_many(self, account_id: int, rows: list[tuple[str, str | None, dict[str, str]]],
                    now: datetime) -> dict[str, tuple[Contact, str]]:
        """Contacts of many (email, crm_id, attributes) rows, each with created/updated/unchanged."""
        emails = list(dict.fromkeys(email for email, _, _ in rows))
        current = self.by_emails(account_id, emails)
        new = {email: {"account_id": account_id, "email": email, "crm_id": crm_id,
                       "attributes": attributes, "created_at": now, "updated_at": now}
               for email, crm_id, attributes in rows if email not in current}
        created = set()
        for chunk in _chunks(list(new.values())):
            inserted = self.connection.execute(
                _insert_ignoring_conflicts(self.connection, contacts)
                .on_conflict_do_nothing(index_elements=["account_id", "email"])
                .returning(contacts.c.id, contacts.c.email), chunk)
            for contact_id, email in inserted:
                created.add(email)
                current[email] = Contact(id=contact_id, email=email, crm_id=new[email]["crm_id"],
                                         attributes=dict(new[email]["attributes"]))
        # Rows another request inserted meanwhile (ON CONFLICT skipped them) are read back;
        # re-reading everything would be slow: the planner's statistics still say "empty".
        racing = [email for email in new if email not in created]
        current.update(self.by_emails(account_id, racing) if racing else {})
        outcome: dict[str, tuple[Contact, str]] = {}
        changes = []
        for email, crm_id, attributes in rows:
            contact = current[email]
            merged = {**contact.attributes, **attributes}
            new_crm = crm_id if crm_id is not None else contact.crm_id
            if merged != contact.attributes or new_crm != contact.crm_id:
                contact = Contact(id=contact.id, email=email, crm_id=new_crm, attributes=merged)
                current[email] = contact
                changes.append(contact)
                state = "created" if email in created else "updated"
            else:
                state = outcome.get(email, (None, "created" if email in created else "unchanged"))[1]
            outcome[email] = (contact, state)
        for contact in {c.email: c for c in changes}.values():
            self.connection.execute(update(contacts).where(contacts.c.id == contact.id).values(
                crm_id=contact.crm_id, attributes=contact.attributes, updated_at=now))
        return outcome

    def by_emails(self, account_id: int, emails: list[str]) -> dict[str, Contact]:
        found = {}
        for chunk in _chunks(emails):
            for row in self.connection.execute(select(contacts).where(
                    contacts.c.account_id == account_id,
                    _among(self.connection, contacts.c.email, chunk))):
                found[row.email] = _contact(row)
        return found

    def unsubscribed(self, contact_ids: list[int]) -> set[int]:
        found = set()
        for chunk in _chunks(contact_ids):
            found.update(self.connection.execute(select(contacts.c.id).where(
                _among(self.connection, contacts.c.id, chunk),
                contacts.c.unsubscribed_at.is_not(None))).scalars())
        return found

    def unsubscribe(self, contact_id: int, now: datetime) -> bool:
        """Mark the contact unsubscribed; False if it already was."""
        return self.connection.execute(update(contacts).where(
            contacts.c.id == contact_id, contacts.c.unsubscribed_at.is_(None)).values(
                unsubscribed_at=now, updated_at=now)).rowcount == 1

    def is_unsubscribed(self, contact_id: int) -> bool:
        return self.connection.execute(select(contacts.c.unsubscribed_at).where(
            contacts.c.id == contact_id)).scalar_one() is not None


def _mail_due(now: datetime):
    """An invitation's first mail or next reminder is due."""
    return (((invitations.c.status == "scheduled") & (invitations.c.send_at <= now))
            | (invitations.c.status.in_(("sent", "opened", "reminded"))
               & (invitations.c.next_reminder_at <= now)))


def _invitation(row: Row) -> Invitation:
    return Invitation(id=row.id, campaign_id=row.campaign_id, contact_id=row.contact_id,
                      nonce=bytes(row.nonce), params=dict(row.params), status=row.status,
                      created_at=row.created_at, expires_at=row.expires_at,
                      event_id=row.event_id, send_at=row.send_at, sent_at=row.sent_at,
                      opened_at=row.opened_at, responded_at=row.responded_at,
                      reminders_sent=row.reminders_sent)


class InvitationRepository(_Repository):
    def add(self, account_id: int, invitation: Invitation) -> int:
        """Store a new invitation; DuplicateEvent if its event id was recorded concurrently."""
        try:
            with self.connection.begin_nested():
                return self._insert(account_id, invitation)
        except IntegrityError:
            if invitation.event_id and self.get_by_event(invitation.campaign_id,
                                                         invitation.event_id):
                raise DuplicateEvent(f"event_id '{invitation.event_id}' is already recorded.")
            raise

    def _insert(self, account_id: int, invitation: Invitation) -> int:
        return self.connection.execute(insert(invitations).values(
            account_id=account_id, campaign_id=invitation.campaign_id,
            contact_id=invitation.contact_id, nonce=invitation.nonce, params=invitation.params,
            event_id=invitation.event_id, status=invitation.status,
            created_at=invitation.created_at, send_at=invitation.send_at,
            sent_at=invitation.sent_at, expires_at=invitation.expires_at,
        ).returning(invitations.c.id)).scalar_one()

    def get(self, account_id: int, invitation_id: int) -> Invitation | None:
        row = self._one(select(invitations).where(invitations.c.account_id == account_id,
                                                  invitations.c.id == invitation_id))
        return _invitation(row) if row else None

    def get_any(self, invitation_id: int) -> tuple[int, Invitation] | None:
        """An invitation of any account, with its account id (for the worker)."""
        row = self._one(select(invitations).where(invitations.c.id == invitation_id))
        return (row.account_id, _invitation(row)) if row else None

    def get_by_nonce(self, nonce: bytes) -> tuple[int, Invitation] | None:
        row = self._one(select(invitations).where(invitations.c.nonce == nonce))
        return (row.account_id, _invitation(row)) if row else None

    def get_by_event(self, campaign_id: int, event_id: str) -> Invitation | None:
        row = self._one(select(invitations).where(invitations.c.campaign_id == campaign_id,
                                                  invitations.c.event_id == event_id))
        return _invitation(row) if row else None

    def latest(self, campaign_id: int, contact_id: int) -> Invitation | None:
        row = self._one(select(invitations).where(
            invitations.c.campaign_id == campaign_id, invitations.c.contact_id == contact_id)
            .order_by(invitations.c.created_at.desc(), invitations.c.id.desc()).limit(1))
        return _invitation(row) if row else None

    def last_invited_at(self, account_id: int, contact_id: int,
                        campaign_id: int | None) -> datetime | None:
        """When the contact was last invited (by this campaign, or by any when None)."""
        query = select(func.max(invitations.c.created_at)).where(
            invitations.c.account_id == account_id, invitations.c.contact_id == contact_id)
        if campaign_id is not None:
            query = query.where(invitations.c.campaign_id == campaign_id)
        return self.connection.execute(query).scalar_one()

    def add_many(self, account_id: int, new: list[Invitation]) -> list[int]:
        """Store many invitations at once; their ids in the same order."""
        ids: list[int] = []
        for chunk in _chunks(new):
            result = self.connection.execute(
                insert(invitations).returning(invitations.c.id, sort_by_parameter_order=True),
                [{"account_id": account_id, "campaign_id": i.campaign_id,
                  "contact_id": i.contact_id, "nonce": i.nonce, "params": i.params,
                  "event_id": i.event_id, "status": i.status, "created_at": i.created_at,
                  "send_at": i.send_at, "sent_at": i.sent_at, "expires_at": i.expires_at}
                 for i in chunk])
            ids.extend(result.scalars())
        return ids

    def by_events(self, campaign_id: int, event_ids: list[str]) -> dict[str, Invitation]:
        found = {}
        for chunk in _chunks(event_ids):
            for row in self.connection.execute(select(invitations).where(
                    invitations.c.campaign_id == campaign_id,
                    _among(self.connection, invitations.c.event_id, chunk))):
                found[row.event_id] = _invitation(row)
        return found

    def last_invited_many(self, account_id: int, contact_ids: list[int],
                          campaign_id: int | None) -> dict[int, datetime]:
        """When each contact was last invited (by this campaign, or by any when None)."""
        found = {}
        for chunk in _chunks(contact_ids):
            query = (select(invitations.c.contact_id, func.max(invitations.c.created_at))
                     .where(invitations.c.account_id == account_id,
                            _among(self.connection, invitations.c.contact_id, chunk))
                     .group_by(invitations.c.contact_id))
            if campaign_id is not None:
                query = query.where(invitations.c.campaign_id == campaign_id)
            found.update((contact_id, last) for contact_id, last in self.connection.execute(query))
        return found

    def record_events(self, events: list[tuple[int, datetime, str, str]]) -> None:
        """Append (invitation_id, at, event, detail) rows to invitations' histories."""
        for chunk in _chunks(events):
            self.connection.execute(insert(invitation_events), [
                {"invitation_id": i, "at": at, "event": event, "detail": detail[:500]}
                for i, at, event, detail in chunk])

    def history(self, invitation_id: int) -> list[Row]:
        return list(self.connection.execute(select(invitation_events).where(
            invitation_events.c.invitation_id == invitation_id).order_by(invitation_events.c.id)))

    def non_responders(self, account_id: int, campaign_id: int, since: datetime | None,
                       offset: int, limit: int, now: datetime) -> tuple[list[Row], int]:
        """Open invitations of a campaign (not answered, not expired), oldest first."""
        where = [invitations.c.account_id == account_id, invitations.c.campaign_id == campaign_id,
                 invitations.c.status.in_(("sent", "opened", "reminded")),
                 (invitations.c.expires_at.is_(None)) | (invitations.c.expires_at > now)]
        if since is not None:
            where.append(invitations.c.created_at >= since)
        rows = list(self.connection.execute(
            select(invitations, contacts.c.email, contacts.c.crm_id)
            .join(contacts, contacts.c.id == invitations.c.contact_id).where(*where)
            .order_by(invitations.c.id).offset(offset).limit(limit)))
        total = self.connection.execute(select(func.count()).select_from(invitations)
                                        .where(*where)).scalar_one()
        return rows, total

    def claim_due_mail(self, owner: str, now: datetime, lease_until: datetime,
                       limit: int) -> list[Row]:
        """Lease invitations of active email campaigns whose mail (or reminder) is due.

        On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so
        workers claiming at the same moment never take the same row; on SQLite
        the write transaction already admits one claimer at a time. The lease
        lets the SMTP conversation happen outside any transaction.
        """
        due = _mail_due(now)
        candidates = (
            select(invitations.c.id)
            .join(campaigns, campaigns.c.id == invitations.c.campaign_id)
            .where(due, campaigns.c.status == "active", campaigns.c.delivery == "email",
                   (invitations.c.lease_until.is_(None)) | (invitations.c.lease_until < now),
                   (invitations.c.next_attempt_at.is_(None))
                   | (invitations.c.next_attempt_at <= now),
                   (invitations.c.expires_at.is_(None)) | (invitations.c.expires_at > now))
            .order_by(invitations.c.id).limit(limit)
            .with_for_update(skip_locked=True, of=invitations))
        ids = list(self.connection.execute(candidates).scalars())
        if not ids:
            return []
        self.connection.execute(update(invitations).where(invitations.c.id.in_(ids)).values(
            lease_owner=owner, lease_until=lease_until))
        return list(self.connection.execute(select(invitations).where(
            invitations.c.id.in_(ids)).order_by(invitations.c.id)))

    def count_due_mail(self, now: datetime) -> int:
        """Invitations whose mail or reminder is due and not sent yet (a metric)."""
        return self.connection.execute(select(func.count()).select_from(invitations)
                                       .where(_mail_due(now))).scalar_one()

    def finish_mail(self, invitation_id: int, owner: str, only_if_status: tuple[str, ...],
                    **values: Any) -> bool:
        """Record the outcome of a leased mail; False if the lease was lost meanwhile."""
        return self.connection.execute(update(invitations).where(
            invitations.c.id == invitation_id, invitations.c.lease_owner == owner,
            invitations.c.status.in_(only_if_status)).values(
                lease_owner=None, lease_until=None, **values)).rowcount == 1

    def for_metrics(self, account_id: int, campaign_id: int, date_from: datetime | None,
                    date_to: datetime | None) -> Iterator[Row]:
        """(sent_at, opened_at, contact attributes) of a campaign's invitations."""
        query = (select(invitations.c.sent_at, invitations.c.opened_at, contacts.c.attributes)
                 .join(contacts, contacts.c.id == invitations.c.contact_id)
                 .where(invitations.c.account_id == account_id,
                        invitations.c.campaign_id == campaign_id))
        if date_from is not None:
            query = query.where(invitations.c.created_at >= date_from)
        if date_to is not None:
            query = query.where(invitations.c.created_at < date_to)
        return iter(self.connection.execution_options(yield_per=5000).execute(query))

    def of_contact(self, contact_id: int) -> list[Invitation]:
        return [_invitation(row) for row in self.connection.execute(
            select(invitations).where(invitations.c.contact_id == contact_id)
            .order_by(invitations.c.id))]

    def erase_contact(self, contact_id: int) -> int:
        """Drop the parameters and event ids of a contact's invitations (personal data)."""
        return self.connection.execute(update(invitations).where(
            invitations.c.contact_id == contact_id).values(params={}, event_id=None)).rowcount

    def mark(self, invitation_id: int, **values: Any) -> None:
        self.connection.execute(
            update(invitations).where(invitations.c.id == invitation_id).values(**values))


class ResponseRepository(_Repository):
    def assign_position(self, account_id: int) -> int:
        """The next export position of the account.

        The row lock this UPDATE takes is held until commit, so positions of one
        account are committed in the order they are handed out: an exporter that
        has read position N has already seen every committed position below N.
        Call it as the last write of a transaction to keep the lock short.
        """
        return self.connection.execute(
            update(accounts).where(accounts.c.id == account_id)
            .values(response_position=accounts.c.response_position + 1)
            .returning(accounts.c.response_position)).scalar_one()

    def add(self, account_id: int, campaign_id: int, invitation_id: int | None,
            contact_id: int | None, answers: dict[str, object], params: dict[str, str],
            extra_params: dict[str, str], nps_score: int | None, now: datetime) -> int:
        position = self.assign_position(account_id)
        try:
            with self.connection.begin_nested():
                return self.connection.execute(insert(responses).values(
                    account_id=account_id, campaign_id=campaign_id, invitation_id=invitation_id,
                    contact_id=contact_id, answers=answers, params=params,
                    extra_params=extra_params, nps_score=nps_score, submitted_at=now,
                    updated_at=now, change="new", position=position,
                ).returning(responses.c.id)).scalar_one()
        except IntegrityError:
            if invitation_id is not None and self.get_by_invitation(invitation_id) is not None:
                # Two submissions of one invitation raced: the first one counts.
                raise Conflict(f"Invitation {invitation_id} has already been answered.") from None
            raise

    def of_contact(self, contact_id: int) -> list[Row]:
        return list(self.connection.execute(select(responses).where(
            responses.c.contact_id == contact_id).order_by(responses.c.id)))

    def anonymise(self, account_id: int, response_id: int, answers: dict[str, object],
                  now: datetime) -> None:
        """Keep only the given answers; the next incremental export reports the erasure."""
        self.connection.execute(update(responses).where(responses.c.id == response_id).values(
            answers=answers, params={}, extra_params={}, change="erased", updated_at=now,
            position=self.assign_position(account_id)))

    def get_by_invitation(self, invitation_id: int) -> Row | None:
        return self._one(select(responses.c.id).where(responses.c.invitation_id == invitation_id))

    def latest_per_campaign(self, account_id: int, contact_id: int,
                            campaign_id: int | None) -> list[Row]:
        """The contact's most recent response in each campaign, newest campaign activity first."""
        ranked = (select(responses, func.row_number().over(
            partition_by=responses.c.campaign_id,
            order_by=(responses.c.submitted_at.desc(), responses.c.id.desc())).label("rank"))
            .where(responses.c.account_id == account_id, responses.c.contact_id == contact_id))
        if campaign_id is not None:
            ranked = ranked.where(responses.c.campaign_id == campaign_id)
        ranked = ranked.subquery()
        query = (select(ranked, campaigns.c.name.label("campaign_name"))
                 .join(campaigns, campaigns.c.id == ranked.c.campaign_id)
                 .where(ranked.c.rank == 1)
                 .order_by(ranked.c.submitted_at.desc(), ranked.c.id.desc()))
        return list(self.connection.execute(query))

    def for_metrics(self, account_id: int, campaign_id: int, date_from: datetime | None,
                    date_to: datetime | None) -> Iterator[Row]:
        """(invitation_id, nps_score, answers, contact attributes) of a campaign's responses."""
        query = (select(responses.c.invitation_id, responses.c.nps_score, responses.c.answers,
                        responses.c.submitted_at, contacts.c.attributes)
                 .outerjoin(contacts, contacts.c.id == responses.c.contact_id)
                 .where(responses.c.account_id == account_id,
                        responses.c.campaign_id == campaign_id))
        if date_from is not None:
            query = query.where(responses.c.submitted_at >= date_from)
        if date_to is not None:
            query = query.where(responses.c.submitted_at < date_to)
        return iter(self.connection.execution_options(yield_per=5000).execute(query))

    def last_position(self, account_id: int, campaign_id: int) -> int:
        """The highest export position of a campaign's committed responses (0: none)."""
        return self.connection.execute(select(func.coalesce(func.max(responses.c.position), 0))
                                       .where(responses.c.account_id == account_id,
                                              responses.c.campaign_id == campaign_id)).scalar_one()

    def count_range(self, account_id: int, campaign_id: int, after: int, upto: int) -> int:
        return self.connection.execute(select(func.count()).select_from(responses).where(
            responses.c.account_id == account_id, responses.c.campaign_id == campaign_id,
            responses.c.position > after, responses.c.position <= upto)).scalar_one()

    def dump_rows(self, account_id: int, campaign_id: int, after: int, upto: int,
                  keys_only: bool = False) -> Iterator[Row]:
        """Responses with positions in (after, upto], streamed in position order."""
        columns = ([responses.c.params, responses.c.extra_params, contacts.c.attributes]
                   if keys_only else [responses, contacts.c.email, contacts.c.crm_id,
                                      contacts.c.erased_at, contacts.c.attributes])
        query = (select(*columns)
                 .outerjoin(contacts, contacts.c.id == responses.c.contact_id)
                 .where(responses.c.account_id == account_id,
                        responses.c.campaign_id == campaign_id,
                        responses.c.position > after, responses.c.position <= upto)
                 .order_by(responses.c.position))
        return iter(self.connection.execution_options(yield_per=2000).execute(query))

    def export_rows(self, account_id: int, campaign_id: int, after: int,
                    limit: int | None) -> Iterator[Row]:
        """Responses of a campaign after export position ``after``, in position order."""
        query = (select(responses, contacts.c.email, contacts.c.crm_id, contacts.c.erased_at)
                 .outerjoin(contacts, contacts.c.id == responses.c.contact_id)
                 .where(responses.c.account_id == account_id,
                        responses.c.campaign_id == campaign_id,
                        responses.c.position > after)
                 .order_by(responses.c.position))
        if limit is not None:
            query = query.limit(limit)
        return iter(self.connection.execute(query))




class AuthFailureRepository(_Repository):
    def blocked_until(self, address: str, now: datetime) -> datetime | None:
        until = self.connection.execute(select(auth_failures.c.blocked_until).where(
            auth_failures.c.address == address)).scalar()
        return until if until is not None and until > now else None

    def record(self, address: str, now: datetime, window: timedelta, limit: int,
               block: timedelta) -> None:
        """Count one failure in the address's current window; block it once over ``limit``."""
        row = self._one(select(auth_failures).where(auth_failures.c.address == address))
        if row is None or now - row.window_start > window:
            failures, start = 1, now
        else:
            failures, start = row.failures + 1, row.window_start
        values = {"failures": failures, "window_start": start,
                  "blocked_until": now + block if failures >= limit else None}
        if row is None:
            self.connection.execute(_insert_ignoring_conflicts(self.connection, auth_failures)
                                    .values(address=address, **values)
                                    .on_conflict_do_nothing(index_elements=["address"]))
        else:
            self.connection.execute(update(auth_failures)
                                    .where(auth_failures.c.address == address).values(**values))


class AuditRepository(_Repository):
    def add(self, account_id: int, key_id: str, operation: str, target: str,
            now: datetime) -> None:
        self.connection.execute(insert(audit_log).values(
            account_id=account_id, key_id=key_id, operation=operation, target=target[:200],
            at=now))

    def list(self, account_id: int, since: datetime | None, limit: int) -> list[Row]:
        query = select(audit_log).where(audit_log.c.account_id == account_id)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        return list(self.connection.execute(query.order_by(audit_log.c.id.desc()).limit(limit)))


class AttributeRepository(_Repository):
    def define(self, account_id: int, name: str, kind: str, values: list[str],
               now: datetime) -> None:
        """Create or redefine an attribute."""
        existing = self._one(select(attribute_definitions.c.id).where(
            attribute_definitions.c.account_id == account_id,
            attribute_definitions.c.name == name))
        if existing is None:
            self.connection.execute(insert(attribute_definitions).values(
                account_id=account_id, name=name, kind=kind, values=values, created_at=now))
        else:
            self.connection.execute(update(attribute_definitions).where(
                attribute_definitions.c.id == existing.id).values(kind=kind, values=values))

    def all(self, account_id: int) -> dict[str, Row]:
        return {row.name: row for row in self.connection.execute(
            select(attribute_definitions).where(attribute_definitions.c.account_id == account_id)
            .order_by(attribute_definitions.c.name))}


class ListRepository(_Repository):
    def get_or_create(self, account_id: int, name: str, now: datetime) -> int:
        self.connection.execute(_insert_ignoring_conflicts(self.connection, contact_lists)
                                .values(account_id=account_id, name=name, created_at=now)
                                .on_conflict_do_nothing(index_elements=["account_id", "name"]))
        return self.connection.execute(select(contact_lists.c.id).where(
            contact_lists.c.account_id == account_id,
            contact_lists.c.name == name)).scalar_one()

    def member_contacts(self, account_id: int, name: str) -> list[Contact]:
        rows = self.connection.execute(
            select(contacts).join(list_members, list_members.c.contact_id == contacts.c.id)
            .join(contact_lists, contact_lists.c.id == list_members.c.list_id)
            .where(contact_lists.c.account_id == account_id, contact_lists.c.name == name,
                   contacts.c.erased_at.is_(None))
            .order_by(contacts.c.id))
        return [_contact(row) for row in rows]

    def members(self, list_id: int) -> set[int]:
        return set(self.connection.execute(select(list_members.c.contact_id).where(
            list_members.c.list_id == list_id)).scalars())

    def add_members(self, list_id: int, contact_ids: list[int], now: datetime) -> None:
        for chunk in _chunks(contact_ids):
            self.connection.execute(insert(list_members), [
                {"list_id": list_id, "contact_id": c, "added_at": now} for c in chunk])

    def remove_members(self, list_id: int, contact_ids: list[int]) -> None:
        for chunk in _chunks(contact_ids):
            self.connection.execute(list_members.delete().where(
                list_members.c.list_id == list_id, list_members.c.contact_id.in_(chunk)))


class ExportCursorRepository(_Repository):
    def get(self, account_id: int, campaign_id: int, name: str) -> int:
        return self.connection.execute(select(export_cursors.c.position).where(
            export_cursors.c.account_id == account_id, export_cursors.c.campaign_id == campaign_id,
            export_cursors.c.name == name)).scalar() or 0

    def set(self, account_id: int, campaign_id: int, name: str, position: int,
            now: datetime) -> None:
        key = {"account_id": account_id, "campaign_id": campaign_id, "name": name}
        self.connection.execute(_insert_ignoring_conflicts(self.connection, export_cursors)
                                .values(**key, position=position, updated_at=now)
                                .on_conflict_do_update(
                                    index_elements=list(key),
                                    set_={"position": position, "updated_at": now}))


class DumpFileRepository(_Repository):
    def add(self, account_id: int, **values: Any) -> None:
        self.connection.execute(insert(dump_files).values(account_id=account_id, **values))

    def list(self, account_id: int, campaign_id: int | None, limit: int) -> list[Row]:
        query = select(dump_files).where(dump_files.c.account_id == account_id)
        if campaign_id is not None:
            query = query.where(dump_files.c.campaign_id == campaign_id)
        return list(self.connection.execute(query.order_by(dump_files.c.id.desc()).limit(limit)))

    def get(self, account_id: int, name: str) -> Row | None:
        return self._one(select(dump_files).where(dump_files.c.account_id == account_id,
                                                  dump_files.c.name == name))


class OutboxRepository(_Repository):
    def add_many(self, account_id: int, entries: list[dict], now: datetime) -> None:
        if entries:
            self.connection.execute(insert(outbox), [
                {"account_id": account_id, "state": "pending", "next_attempt_at": now,
                 "created_at": now, **entry} for entry in entries])

    def claim_due(self, owner: str, now: datetime, lease_until: datetime,
                  limit: int) -> list[Row]:
        """Lease pending entries that are due (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
        ids = list(self.connection.execute(
            select(outbox.c.id).where(
                outbox.c.state == "pending", outbox.c.next_attempt_at <= now,
                (outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < now))
            .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)
            .with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        self.connection.execute(update(outbox).where(outbox.c.id.in_(ids)).values(
            lease_owner=owner, lease_until=lease_until))
        return list(self.connection.execute(select(outbox).where(outbox.c.id.in_(ids))
                                            .order_by(outbox.c.id)))

    def finish(self, entry_id: int, owner: str, **values: Any) -> bool:
        return self.connection.execute(update(outbox).where(
            outbox.c.id == entry_id, outbox.c.lease_owner == owner,
            outbox.c.state == "pending").values(
                lease_owner=None, lease_until=None, **values)).rowcount == 1

    def backlog(self) -> tuple[int, datetime | None]:
        """How many entries wait, and when the oldest of them was created (a metric)."""
        count, oldest = self.connection.execute(
            select(func.count(), func.min(outbox.c.created_at))
            .where(outbox.c.state == "pending")).one()
        return count, oldest

    def list(self, account_id: int, state: str | None, limit: int) -> list[Row]:
        query = select(outbox).where(outbox.c.account_id == account_id)
        if state is not None:
            query = query.where(outbox.c.state == state)
        return list(self.connection.execute(query.order_by(outbox.c.id.desc()).limit(limit)))

    def retry(self, account_id: int, entry_id: int, now: datetime) -> bool:
        """Put a dead entry back in the queue, due now, with its attempts counted afresh."""
        return self.connection.execute(update(outbox).where(
            outbox.c.account_id == account_id, outbox.c.id == entry_id,
            outbox.c.state == "dead").values(state="pending", attempts=0, next_attempt_at=now,
                                             lease_owner=None, lease_until=None)).rowcount == 1

    def erase_contact(self, account_id: int, email: str, now: datetime) -> int:
        """Scrub a person's data from the outbox; what was not delivered yet never will be."""
        erased = 0
        for row in self.connection.execute(select(outbox.c.id, outbox.c.payload, outbox.c.state)
                                           .where(outbox.c.account_id == account_id)).all():
            data = (row.payload or {}).get("data", {})
            if data.get("email") != email:
                continue
            values = {"payload": {"type": row.payload.get("type"),
                                  "data": {"response_id": data.get("response_id"),
                                           "erased": True}}}
            if row.state == "pending":
                values.update(state="dead", last_error="not sent: the contact was erased",
                              next_attempt_at=now)
            self.connection.execute(update(outbox).where(outbox.c.id == row.id).values(**values))
            erased += 1
        return erased

    def crm_connection(self, account_id: int) -> Row | None:
        return self._one(select(crm_connections).where(
            crm_connections.c.account_id == account_id))

    def set_crm_connection(self, account_id: int, values: dict, now: datetime) -> None:
        self.connection.execute(_insert_ignoring_conflicts(self.connection, crm_connections)
                                .values(account_id=account_id, updated_at=now, **values)
                                .on_conflict_do_update(index_elements=["account_id"],
                                                       set_={**values, "updated_at": now}))

    def webhook_secret(self, account_id: int) -> str | None:
        return self.connection.execute(select(webhook_secrets.c.secret).where(
            webhook_secrets.c.account_id == account_id)).scalar()

    def set_webhook_secret(self, account_id: int, secret: str, now: datetime) -> None:
        self.connection.execute(_insert_ignoring_conflicts(self.connection, webhook_secrets)
                                .values(account_id=account_id, secret=secret, created_at=now)
                                .on_conflict_do_update(index_elements=["account_id"],
                                                       set_={"secret": secret, "created_at": now}))
