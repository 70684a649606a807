"""Invitations: creation, look-ups, state changes, history and the worker's mail claims."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.engine import Row

from service.domain.distribution import Campaign, Invitation, Status, Transition
from service.domain.errors import DuplicateEvent
from service.domain.surveys import Contact, Survey
from service.storage.records import HistoryRecord
from service.storage.repositories.base import (
    Repository,
    among,
    among_literals,
    chunks,
    insert_of,
    measure_if_outgrown,
    prebuilt,
    prefixed,
    run,
    run_rows,
    streamed,
    unprefixed,
)
from service.storage.repositories.contacts import contact_of
from service.storage.repositories.surveys import campaign_of, survey_of
from service.storage.tables import campaigns, contacts, invitation_events, invitations, surveys

#: Prebuilt (see repositories.base.prebuilt): the statements of every trigger and page view.
_MINE = invitations.c.account_id == bindparam("account_id")
_BY_ID = select(invitations).where(_MINE, invitations.c.id == bindparam("id"))
_BY_NONCE = select(invitations).where(_MINE, invitations.c.nonce == bindparam("nonce"))
#: What a survey page shows and records against, in one row: the invitation of a nonce,
#: its campaign, the campaign's survey and the contact, their columns named
#: campaign__<name>, survey__<name> and contact__<name>.
_LINK = (
    select(invitations, *prefixed(campaigns, "campaign__"), *prefixed(surveys, "survey__"),
           *prefixed(contacts, "contact__"))
    .join(campaigns, (campaigns.c.account_id == invitations.c.account_id)
          & (campaigns.c.id == invitations.c.campaign_id))
    .join(surveys, (surveys.c.account_id == campaigns.c.account_id)
          & (surveys.c.id == campaigns.c.survey_id))
    .join(contacts, (contacts.c.account_id == invitations.c.account_id)
          & (contacts.c.id == invitations.c.contact_id)))
_OF_LINK = _LINK.where(_MINE, invitations.c.nonce == bindparam("nonce"))
_LINK_BY_ID = _LINK.where(_MINE, invitations.c.id == bindparam("id"))
#: A campaign, the contact of an email and their latest invitation of it, in one row
#: (GetTrackingUrl of an open send asked for again): campaign__ and contact__ columns,
#: the invitation's own; each side NULL when absent.
_LATEST_ID = (select(invitations.c.id)
              .where(invitations.c.account_id == campaigns.c.account_id,
                     invitations.c.campaign_id == campaigns.c.id,
                     invitations.c.contact_id == contacts.c.id)
              .order_by(invitations.c.created_at.desc(), invitations.c.id.desc()).limit(1)
              .correlate(campaigns, contacts).scalar_subquery())
_LATEST_SEND = (
    select(*prefixed(campaigns, "campaign__"), *prefixed(contacts, "contact__"), invitations)
    .select_from(campaigns
                 .outerjoin(contacts, (contacts.c.account_id == campaigns.c.account_id)
                            & (contacts.c.email == bindparam("email")))
                 .outerjoin(invitations, (invitations.c.account_id == campaigns.c.account_id)
                            & (invitations.c.id == _LATEST_ID)))
    .where(campaigns.c.account_id == bindparam("account_id"),
           campaigns.c.id == bindparam("campaign_id")))
#: The invitation of an event id with its contact's email (a repeated trigger's answer).
_OF_EVENT = (select(invitations, contacts.c.email.label("contact__email"))
             .outerjoin(contacts, (contacts.c.account_id == invitations.c.account_id)
                        & (contacts.c.id == invitations.c.contact_id))
             .where(_MINE, invitations.c.campaign_id == bindparam("campaign_id"),
                    invitations.c.event_id == bindparam("event_id")))
_LATEST = (select(invitations).where(_MINE, invitations.c.campaign_id == bindparam("campaign_id"),
                                     invitations.c.contact_id == bindparam("contact_id"))
           .order_by(invitations.c.created_at.desc(), invitations.c.id.desc()).limit(1))
_RECORD_EVENTS = insert(invitation_events)


@prebuilt
def _events_of_many(dialect: str, count: int):
    """The same ``count`` events (``at<n>``, ``event<n>``, ``detail<n>``) of each
    invitation whose ids are given (``ids``, a JSON array), in one statement: each
    invitation's events in their order, the invitations in the order given. The ids are
    one JSON document (one json.dumps, not a value each for the driver to convert); the
    foreign key to the account's invitation checks each of them."""
    if dialect == "postgresql":   # PostgreSQL types a parameter by its cast
        cast = {"at": "CAST(:{} AS TIMESTAMP)", "text": "CAST(:{} AS VARCHAR)",
                "id": "CAST(:{} AS BIGINT)"}
        ids, invitation_id, position = (
            "json_array_elements_text(CAST(:ids AS JSON)) WITH ORDINALITY AS i(value, n)",
            "CAST(i.value AS BIGINT)", "i.n")
    else:   # SQLite's CAST would give a date-time numeric affinity: its text is stored
        cast = dict.fromkeys(("at", "text", "id"), ":{}")
        ids, invitation_id, position = "json_each(:ids) AS i", "i.value", "i.key"
    events = " UNION ALL ".join(
        f"SELECT {n} AS ord, {cast['at'].format(f'at{n}')} AS at, "
        f"{cast['text'].format(f'event{n}')} AS event, "
        f"{cast['text'].format(f'detail{n}')} AS detail" for n in range(count))
    at_type = invitation_events.c.at.type
    return text(
        "INSERT INTO invitation_events (account_id, invitation_id, at, event, detail) "
        f"SELECT {cast['id'].format('account_id')}, {invitation_id}, e.at, e.event, e.detail "
        f"FROM {ids} CROSS JOIN ({events}) AS e ORDER BY {position}, e.ord"
    ).bindparams(*(bindparam(f"at{n}", type_=at_type) for n in range(count)))


@prebuilt
def _last_invited(of_campaign: bool):
    """When a contact was last invited, by one campaign or by any."""
    query = select(func.max(invitations.c.created_at)).where(
        _MINE, invitations.c.contact_id == bindparam("contact_id"),
        invitations.c.status != Status.CANCELLED)
    return query.where(invitations.c.campaign_id == bindparam("campaign_id")) \
        if of_campaign else query


@prebuilt
def _apply(allowed: tuple[str, ...], leased: bool):
    """A state change of one invitation (the columns set are the other values given),
    while it is in one of ``allowed`` states and, when ``leased``, leased by ``of_owner``."""
    where = [invitations.c.account_id == bindparam("of_account"),
             invitations.c.id == bindparam("of_id"), invitations.c.status.in_(allowed)]
    if leased:
        where.append(invitations.c.lease_owner == bindparam("of_owner"))
    return update(invitations).where(*where)


@prebuilt
def _add(dialect: str):
    return (insert_of(dialect, invitations)
            .on_conflict_do_nothing(index_elements=["account_id", "campaign_id", "event_id"])
            .returning(invitations.c.id, invitations.c.nonce))


def _mail_due(now: datetime):
    """An invitation's first mail or next reminder is due."""
    return ((among_literals(invitations.c.status, Status.UNSENT) & (invitations.c.send_at <= now))
            | (among_literals(invitations.c.status, Status.AWAITING_ANSWER)
               & (invitations.c.next_reminder_at <= now)))


#: An invitation's contact, joined within the account (a colocated join once distributed).
_contact_of_invitation = ((contacts.c.account_id == invitations.c.account_id)
                          & (contacts.c.id == invitations.c.contact_id))


@dataclass(frozen=True)
class InvitedContact:
    """An invitation with the email and CRM id of its contact."""

    invitation: Invitation
    email: str
    crm_id: str | None


def _invitation(row: Row) -> Invitation:
    return Invitation(id=row.id, account_id=row.account_id, campaign_id=row.campaign_id,
                      contact_id=row.contact_id,
                      nonce=bytes(row.nonce), params=dict(row.params), status=row.status,
                      created_at=row.created_at, expires_at=row.expires_at,
                      event_id=row.event_id, send_at=row.send_at, sent_at=row.sent_at,
                      opened_at=row.opened_at, responded_at=row.responded_at,
                      reminders_sent=row.reminders_sent, attempts=row.attempts,
                      attributes=dict(row.attributes))


@dataclass(frozen=True)
class Link:
    """A personal link's invitation with its campaign, survey (as it is now) and contact."""

    invitation: Invitation
    campaign: Campaign
    survey: Survey
    contact: Contact


def _link(row: Row | None) -> Link | None:
    if row is None:
        return None
    return Link(_invitation(row), campaign_of(unprefixed(row, "campaign__")),
                survey_of(unprefixed(row, "survey__")), contact_of(unprefixed(row, "contact__")))


@dataclass(frozen=True)
class Send:
    """A campaign, the contact of an email (None: not known yet) and the contact's latest
    invitation of the campaign (None: never invited by it)."""

    campaign: Campaign
    contact: Contact | None
    latest: Invitation | None


class InvitationRepository(Repository):
    def add(self, account_id: int, invitation: Invitation) -> int:
        """Store a new invitation; DuplicateEvent if its event id was recorded concurrently."""
        return self.add_many(account_id, [invitation])[0]

    def get(self, account_id: int, invitation_id: int) -> Invitation | None:
        return self._invitation(_BY_ID, account_id=account_id, id=invitation_id)

    def get_by_nonce(self, account_id: int, nonce: bytes) -> Invitation | None:
        return self._invitation(_BY_NONCE, account_id=account_id, nonce=nonce)

    def of_link(self, account_id: int, nonce: bytes) -> Link | None:
        """The invitation of a nonce and what its survey page needs, in one statement."""
        return _link(run(self.connection, _OF_LINK,
                         {"account_id": account_id, "nonce": nonce}).first())

    def link(self, account_id: int, invitation_id: int) -> Link | None:
        """An invitation of the account with its campaign, survey and contact, in one
        statement (what recording its answers reads)."""
        return _link(run(self.connection, _LINK_BY_ID,
                         {"account_id": account_id, "id": invitation_id}).first())

    def of_event(self, account_id: int, campaign_id: int,
                 event_id: str) -> tuple[Invitation, str] | None:
        """The invitation an event id made and the email of its contact, in one statement."""
        row = run(self.connection, _OF_EVENT, {"account_id": account_id,
                                               "campaign_id": campaign_id,
                                               "event_id": event_id}).first()
        return (_invitation(row), row.contact__email) if row else None

    def latest_send(self, account_id: int, campaign_id: int, email: str) -> Send | None:
        """The campaign, the email's contact and their latest invitation of the campaign,
        in one statement; None when the account has no such campaign."""
        row = run(self.connection, _LATEST_SEND, {"account_id": account_id,
                                                  "campaign_id": campaign_id,
                                                  "email": email}).first()
        if row is None:
            return None
        return Send(campaign_of(unprefixed(row, "campaign__")),
                    contact_of(unprefixed(row, "contact__")) if row.contact__id is not None
                    else None,
                    _invitation(row) if row.id is not None else None)

    def latest(self, account_id: int, campaign_id: int, contact_id: int) -> Invitation | None:
        return self._invitation(_LATEST, account_id=account_id, campaign_id=campaign_id,
                                contact_id=contact_id)

    def _invitation(self, statement, **values) -> Invitation | None:
        row = run(self.connection, statement, values).first()
        return _invitation(row) if row else None

    def last_invited_at(self, account_id: int, contact_id: int,
                        campaign_id: int | None) -> datetime | None:
        """When the contact was last invited (by this campaign, or by any when None)."""
        values = {"account_id": account_id, "contact_id": contact_id}
        if campaign_id is not None:
            values["campaign_id"] = campaign_id
        return run(self.connection, _last_invited(campaign_id is not None), values).scalar_one()

    def add_many(self, account_id: int, new: list[Invitation]) -> list[int]:
        """Store many invitations at once; their ids in the same order.

        DuplicateEvent when a concurrent call recorded one of their event ids first:
        ON CONFLICT DO NOTHING keeps the transaction usable on PostgreSQL too (no
        aborted transaction, no savepoint), and the caller answers as that call did.
        """
        ids: dict[bytes, int] = {}
        for chunk in chunks(new):
            result = run_rows(self.connection, _add(self.connection.dialect.name), [
                {"account_id": account_id, "campaign_id": i.campaign_id,
                 "contact_id": i.contact_id, "nonce": i.nonce, "params": i.params,
                 "event_id": i.event_id, "status": i.status, "created_at": i.created_at,
                 "send_at": i.send_at, "sent_at": i.sent_at, "expires_at": i.expires_at,
                 "attributes": i.attributes}
                for i in chunk])
            ids.update((bytes(nonce), invitation_id) for invitation_id, nonce in result)
        # What the new rows' foreign-key checks and history look up.
        measure_if_outgrown(self.connection, ("contacts", "invitations"), len(new))
        if len(ids) < len(new):
            raise DuplicateEvent("An event id of this call was recorded concurrently.")
        return [ids[i.nonce] for i in new]

    def by_events(self, account_id: int, campaign_id: int,
                  event_ids: list[str]) -> dict[str, Invitation]:
        found = {}
        for chunk in chunks(event_ids):
            for row in self.connection.execute(select(invitations).where(
                    invitations.c.account_id == account_id, invitations.c.campaign_id == campaign_id,
                    among(self.connection, invitations.c.event_id, chunk))):
                found[row.event_id] = _invitation(row)
        return found

    def last_invited_many(self, account_id: int, contact_ids: list[int],
                          campaign_id: int | None) -> dict[int, datetime]:
        """When each contact was last invited (by this campaign, or by any when None)."""
        found = {}
        for chunk in chunks(contact_ids):
            query = (select(invitations.c.contact_id, func.max(invitations.c.created_at))
                     .where(invitations.c.account_id == account_id,
                            invitations.c.status != Status.CANCELLED,
                            among(self.connection, invitations.c.contact_id, chunk))
                     .group_by(invitations.c.contact_id))
            if campaign_id is not None:
                query = query.where(invitations.c.campaign_id == campaign_id)
            found.update((contact_id, last) for contact_id, last in self.connection.execute(query))
        return found

    def record_events(self, account_id: int,
                      events: list[tuple[int, datetime, str, str]]) -> None:
        """Append (invitation_id, at, event, detail) rows to the account's invitations' histories.

        Invitations with the same events (a bulk call's "created" and "sent") get them in
        one INSERT .. SELECT per chunk of ids, which passes one id a row instead of five
        values to convert, and so do the events of one new invitation (one statement, not
        one an event); the events of one invitation keep their order."""
        sequences: dict[int, list[tuple[datetime, str, str]]] = {}
        for invitation_id, at, event, detail in events:
            sequences.setdefault(invitation_id, []).append((at, event, detail[:500]))
        same: dict[tuple[tuple[datetime, str, str], ...], list[int]] = {}
        for invitation_id, sequence in sequences.items():
            same.setdefault(tuple(sequence), []).append(invitation_id)
        for sequence, ids in same.items():
            if len(ids) == 1 and len(sequence) == 1:   # a state change: one row
                at, event, detail = sequence[0]
                run(self.connection, _RECORD_EVENTS, {
                    "account_id": account_id, "invitation_id": ids[0], "at": at,
                    "event": event, "detail": detail})
                continue
            values: dict = {"account_id": account_id}
            for n, (at, event, detail) in enumerate(sequence):
                values.update({f"at{n}": at, f"event{n}": event, f"detail{n}": detail})
            statement = _events_of_many(self.connection.dialect.name, len(sequence))
            for chunk in chunks(ids):
                run(self.connection, statement, {**values, "ids": json.dumps(chunk)})

    def purge_history(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` history events older than ``before`` (retention)."""
        return self._purge(invitation_events, invitation_events.c.at < before, limit)

    def history(self, account_id: int, invitation_id: int) -> list[HistoryRecord]:
        return self._records(HistoryRecord, select(invitation_events).where(
            invitation_events.c.account_id == account_id,
            invitation_events.c.invitation_id == invitation_id).order_by(invitation_events.c.id))

    def non_responders(self, account_id: int, campaign_id: int, since: datetime | None,
                       offset: int, limit: int, now: datetime
                       ) -> tuple[list[InvitedContact], int]:
        """Open invitations of a campaign (not answered, not expired), oldest first."""
        where = [invitations.c.account_id == account_id, invitations.c.campaign_id == campaign_id,
                 invitations.c.status.in_(Status.AWAITING_ANSWER),
                 (invitations.c.expires_at.is_(None)) | (invitations.c.expires_at > now)]
        if since is not None:
            where.append(invitations.c.created_at >= since)
        found = [InvitedContact(_invitation(row), row.email, row.crm_id)
                 for row in self.connection.execute(
                     select(invitations, contacts.c.email, contacts.c.crm_id)
                     .join(contacts, _contact_of_invitation).where(*where)
                     .order_by(invitations.c.id).offset(offset).limit(limit))]
        total = self.connection.execute(select(func.count()).select_from(invitations)
                                        .where(*where)).scalar_one()
        return found, total

    def claim_due_mail(self, owner: str, now: datetime, lease_until: datetime,
                       limit: int) -> list[Invitation]:
        """Lease up to ``limit`` invitations of active email campaigns whose mail (or
        reminder) is due, account by account: each claim is a query of one account's rows,
        and only the list of accounts with due mail reads across accounts (without locks,
        on the partial due indexes)."""
        claimed: list[Invitation] = []
        for account_id in self.connection.execute(
                select(invitations.c.account_id).where(_mail_due(now)).distinct()
                .order_by(invitations.c.account_id).limit(limit)).scalars():
            claimed += self._claim_due_mail_of(account_id, owner, now, lease_until,
                                               limit - len(claimed))
            if len(claimed) == limit:
                break
        return claimed

    def _claim_due_mail_of(self, account_id: int, owner: str, now: datetime,
                           lease_until: datetime, limit: int) -> list[Invitation]:
        """Lease one account's invitations whose mail (or reminder) is due.

        On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so
        workers claiming at the same moment never take the same row; on SQLite
        the write transaction already admits one claimer at a time. The lease
        lets the SMTP conversation happen outside any transaction.
        """
        mine = invitations.c.account_id == account_id
        candidates = (
            select(invitations.c.id)
            .join(campaigns, (campaigns.c.account_id == invitations.c.account_id)
                  & (campaigns.c.id == invitations.c.campaign_id))
            .where(mine, _mail_due(now), campaigns.c.status == "active",
                   campaigns.c.delivery == "email",
                   (invitations.c.lease_until.is_(None)) | (invitations.c.lease_until < now),
                   (invitations.c.next_attempt_at.is_(None))
                   | (invitations.c.next_attempt_at <= now),
                   (invitations.c.expires_at.is_(None)) | (invitations.c.expires_at > now))
            .order_by(invitations.c.id).limit(limit)
            .with_for_update(skip_locked=True, of=invitations))
        ids = list(self.connection.execute(candidates).scalars())
        if not ids:
            return []
        self.connection.execute(update(invitations).where(mine, invitations.c.id.in_(ids))
                                .values(lease_owner=owner, lease_until=lease_until))
        return [_invitation(row) for row in self.connection.execute(
            select(invitations).where(mine, invitations.c.id.in_(ids))
            .order_by(invitations.c.id))]

    def extend_leases(self, account_id: int, ids: list[int], owner: str,
                      lease_until: datetime) -> None:
        """Keep the lease of invitations ``owner`` still holds (a living worker's heartbeat)."""
        self.connection.execute(update(invitations).where(
            invitations.c.account_id == account_id, invitations.c.id.in_(ids),
            invitations.c.lease_owner == owner).values(
                lease_until=lease_until))

    def count_due_mail(self, now: datetime) -> int:
        """Invitations whose mail or reminder is due and not sent yet (a metric)."""
        return self.connection.execute(select(func.count()).select_from(invitations)
                                       .where(_mail_due(now))).scalar_one()

    def apply(self, invitation: Invitation, change: Transition, now: datetime,
              lease_owner: str | None = None) -> bool:
        """Apply a state change and record it in the history, if the invitation is still
        in an allowed state (and, with ``lease_owner``, still leased by it: the lease ends).
        False when it was not applied."""
        values = {**change.values, "of_account": invitation.account_id, "of_id": invitation.id}
        if lease_owner is not None:
            values.update(lease_owner=None, lease_until=None, of_owner=lease_owner)
        if run(self.connection, _apply(tuple(change.allowed), lease_owner is not None),
               values).rowcount != 1:
            return False
        self.record_events(invitation.account_id,
                           [(invitation.id, now, change.event, change.detail)])
        return True

    def for_metrics(self, account_id: int, campaign_id: int, date_from: datetime | None,
                    date_to: datetime | None) -> Iterator[Row]:
        """(sent_at, opened_at, responded_at, attributes of the send) of a campaign's
        invitations, but the cancelled ones (withdrawn sends count nowhere)."""
        query = (select(invitations.c.sent_at, invitations.c.opened_at,
                        invitations.c.responded_at, invitations.c.attributes)
                 .where(invitations.c.account_id == account_id,
                        invitations.c.campaign_id == campaign_id,
                        invitations.c.status != Status.CANCELLED))
        if date_from is not None:
            query = query.where(invitations.c.created_at >= date_from)
        if date_to is not None:
            query = query.where(invitations.c.created_at < date_to)
        return streamed(self.connection, query)

    def created_span(self, account_id: int, campaign_id: int
                     ) -> tuple[datetime | None, datetime | None]:
        """When a campaign's first and last invitations were made (None, None before any)."""
        row = self.connection.execute(
            select(func.min(invitations.c.created_at), func.max(invitations.c.created_at))
            .where(invitations.c.account_id == account_id,
                   invitations.c.campaign_id == campaign_id)).one()
        return row[0], row[1]

    def of_contact(self, account_id: int, contact_id: int) -> list[Invitation]:
        return [_invitation(row) for row in self.connection.execute(
            select(invitations).where(invitations.c.account_id == account_id,
                                      invitations.c.contact_id == contact_id)
            .order_by(invitations.c.id))]

    def erase_contact(self, account_id: int, contact_id: int) -> int:
        """Drop the parameters, attributes and event ids of a contact's invitations
        (personal data)."""
        return self.connection.execute(update(invitations).where(
            invitations.c.account_id == account_id, invitations.c.contact_id == contact_id)
            .values(params={}, attributes={}, event_id=None)).rowcount
