"""An in-memory unit of work with the repositories the trigger rules use.

Service tests of GetTrackingUrl and AddRespondents run against it in microseconds;
the same rules also run against SQLite and PostgreSQL in tests/integration, and
tests/integration/test_fake_storage.py holds the fake to what the real repositories do.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime

from service.domain.distribution import Campaign, Invitation, Status, Transition
from service.domain.errors import DuplicateEvent
from service.domain.surveys import Contact
from service.storage.repositories import ContactChange
from service.storage.repositories.invitations import Send


@dataclass(frozen=True)
class AttributeDefinition:
    name: str
    kind: str
    values: list[str] = field(default_factory=list)


class FakeCampaigns:
    def __init__(self) -> None:
        self.rows: dict[int, Campaign] = {}

    def get(self, account_id: int, campaign_id: int) -> Campaign | None:
        campaign = self.rows.get(campaign_id)
        return campaign if campaign is not None and campaign.account_id == account_id else None


class FakeAttributes:
    def __init__(self) -> None:
        self.rows: dict[int, dict[str, AttributeDefinition]] = {}

    def all(self, account_id: int) -> dict[str, AttributeDefinition]:
        return dict(self.rows.get(account_id, {}))


class FakeContacts:
    def __init__(self, ids: itertools.count) -> None:
        self.rows: dict[tuple[int, str], Contact] = {}
        self.ids = ids

    def get(self, account_id: int, contact_id: int) -> Contact | None:
        return next((c for (account, _), c in self.rows.items()
                     if account == account_id and c.id == contact_id), None)

    def get_by_email(self, account_id: int, email: str) -> Contact | None:
        return self.rows.get((account_id, email))

    def upsert(self, account_id: int, email: str, crm_id: str | None,
               attributes: dict[str, str], now: datetime) -> ContactChange:
        return self.upsert_many(account_id, [(email, crm_id, attributes)], now)[email]

    def upsert_many(self, account_id: int, rows: list[tuple[str, str | None, dict[str, str]]],
                    now: datetime) -> dict[str, ContactChange]:
        outcome: dict[str, ContactChange] = {}
        for email, crm_id, attributes in rows:
            current = self.rows.get((account_id, email))
            if current is None:
                current = Contact(email=email, crm_id=crm_id, attributes=dict(attributes),
                                  id=next(self.ids))
                state = "created"
            else:
                updated = current.updated_by(crm_id, attributes)
                changed, current = updated != current, updated
                earlier = outcome[email].state if email in outcome else "unchanged"
                state = "updated" if changed and earlier == "unchanged" else earlier
            self.rows[(account_id, email)] = current
            outcome[email] = ContactChange(current, state)
        return outcome

    def unsubscribe(self, account_id: int, email: str) -> None:
        self.rows[(account_id, email)].unsubscribed = True


class FakeInvitations:
    def __init__(self, ids: itertools.count, contacts: FakeContacts,
                 campaigns: FakeCampaigns) -> None:
        self.rows: dict[int, tuple[int, Invitation]] = {}
        self.events: list[tuple[int, datetime, str, str]] = []
        self.ids = ids
        self.contacts = contacts
        self.campaigns = campaigns

    def latest_send(self, account_id: int, campaign_id: int, email: str) -> Send | None:
        campaign = self.campaigns.get(account_id, campaign_id)
        if campaign is None:
            return None
        contact = self.contacts.get_by_email(account_id, email)
        latest = self.latest(account_id, campaign_id, contact.id) if contact else None
        return Send(campaign, contact, latest)

    def _of(self, account_id: int, **match) -> list[Invitation]:
        return [i for account, i in self.rows.values() if account == account_id
                and all(getattr(i, name) == value for name, value in match.items())]

    def _by_event(self, account_id: int, campaign_id: int, event_id: str) -> Invitation | None:
        return next(iter(self._of(account_id, campaign_id=campaign_id, event_id=event_id)), None)

    def of_event(self, account_id: int, campaign_id: int,
                 event_id: str) -> tuple[Invitation, str | None] | None:
        first = self._by_event(account_id, campaign_id, event_id)
        if first is None:
            return None
        contact = self.contacts.get(account_id, first.contact_id)
        return first, contact.email if contact is not None else None

    def by_events(self, account_id: int, campaign_id: int,
                  event_ids: list[str]) -> dict[str, Invitation]:
        return {i.event_id: i for i in self._of(account_id, campaign_id=campaign_id)
                if i.event_id in event_ids}

    def latest(self, account_id: int, campaign_id: int, contact_id: int) -> Invitation | None:
        found = self._of(account_id, campaign_id=campaign_id, contact_id=contact_id)
        return max(found, key=lambda i: (i.created_at, i.id)) if found else None

    def last_invited_at(self, account_id: int, contact_id: int,
                        campaign_id: int | None) -> datetime | None:
        return self.last_invited_many(account_id, [contact_id], campaign_id).get(contact_id)

    def last_invited_many(self, account_id: int, contact_ids: list[int],
                          campaign_id: int | None) -> dict[int, datetime]:
        last: dict[int, datetime] = {}
        for account, invitation in self.rows.values():
            if (account == account_id and invitation.contact_id in contact_ids
                    and campaign_id in (None, invitation.campaign_id)
                    and invitation.status != Status.CANCELLED):
                last[invitation.contact_id] = max(invitation.created_at,
                                                  last.get(invitation.contact_id,
                                                           invitation.created_at))
        return last

    def add(self, account_id: int, invitation: Invitation) -> int:
        return self.add_many(account_id, [invitation])[0]

    def add_many(self, account_id: int, new: list[Invitation]) -> list[int]:
        for invitation in new:
            if invitation.event_id and self._by_event(account_id, invitation.campaign_id,
                                                         invitation.event_id):
                raise DuplicateEvent(f"event_id '{invitation.event_id}' is already recorded.")
        ids = []
        for invitation in new:
            stored = replace(invitation, id=next(self.ids), account_id=account_id)
            self.rows[stored.id] = (account_id, stored)
            ids.append(stored.id)
        return ids

    def record_events(self, account_id: int,
                      events: list[tuple[int, datetime, str, str]]) -> None:
        self.events.extend(events)

    def apply(self, invitation: Invitation, change: Transition, now: datetime,
              lease_owner: str | None = None) -> bool:
        invitation_id = invitation.id
        account_id, invitation = self.rows[invitation_id]
        if invitation.status not in change.allowed:
            return False
        known = {name: value for name, value in change.values.items()
                 if hasattr(invitation, name)}
        self.rows[invitation_id] = (account_id, replace(invitation, **known))
        self.record_events(account_id, [(invitation_id, now, change.event, change.detail)])
        return True


class FakeUnitOfWork:
    """The trigger rules' repositories in memory; commit() counts, nothing rolls back."""

    def __init__(self) -> None:
        ids = itertools.count(1)
        self.campaigns = FakeCampaigns()
        self.attributes = FakeAttributes()
        self.contacts = FakeContacts(ids)
        self.invitations = FakeInvitations(ids, self.contacts, self.campaigns)
        self.commits = 0

    def __call__(self, read_only: bool = False) -> "FakeUnitOfWork":
        return self

    def __enter__(self) -> "FakeUnitOfWork":
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def commit(self) -> None:
        self.commits += 1
