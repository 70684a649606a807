"""Contacts and the lists they belong to."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Row

from service.domain.surveys import Contact
from service.storage.records import ContactRecord
from service.storage.repositories.base import (
    Repository,
    among,
    chunks,
    insert_ignoring_conflicts,
    insert_of,
    prebuilt,
    run,
    run_rows,
)
from service.storage.tables import contact_lists, contacts, list_members

_MINE = contacts.c.account_id == bindparam("account_id")
_BY_EMAIL = select(contacts).where(_MINE, contacts.c.email == bindparam("email"))
_BY_ID = select(contacts).where(_MINE, contacts.c.id == bindparam("id"))
_BY_CRM_ID = (select(contacts).where(_MINE, contacts.c.crm_id == bindparam("crm_id"))
              .order_by(contacts.c.updated_at.desc()).limit(1))
#: (An UPDATE's placeholders in WHERE must not bear a column's name: those set it.)
_MERGE = update(contacts).where(contacts.c.account_id == bindparam("of_account"),
                                contacts.c.id == bindparam("of_id"))


@prebuilt
def _create_many(dialect: str):
    """Contacts that do not exist yet, with the id and email of each one inserted."""
    return (insert_of(dialect, contacts).on_conflict_do_nothing(
        index_elements=["account_id", "email"]).returning(contacts.c.id, contacts.c.email))


@prebuilt
def _create(dialect: str):
    """INSERT .. ON CONFLICT DO NOTHING: two requests creating the same contact at once both
    succeed, and the second one then updates what the first made."""
    return (insert_of(dialect, contacts).on_conflict_do_nothing(
        index_elements=["account_id", "email"]).returning(contacts.c.id))


def contact_of(row: Row) -> Contact:
    return Contact(id=row.id, email=row.email, crm_id=row.crm_id, attributes=dict(row.attributes),
                   unsubscribed=row.unsubscribed_at is not None)


@dataclass(frozen=True)
class ContactChange:
    """A contact after an upsert, and whether it was ``created``, ``updated`` or ``unchanged``."""

    contact: Contact
    state: str


class ContactRepository(Repository):
    def get_by_email(self, account_id: int, email: str) -> Contact | None:
        row = run(self.connection, _BY_EMAIL, {"account_id": account_id, "email": email}).first()
        return contact_of(row) if row else None

    def get_by_crm_id(self, account_id: int, crm_id: str) -> Contact | None:
        row = run(self.connection, _BY_CRM_ID, {"account_id": account_id,
                                                "crm_id": crm_id}).first()
        return contact_of(row) if row else None

    def get(self, account_id: int, contact_id: int) -> Contact | None:
        row = run(self.connection, _BY_ID, {"account_id": account_id, "id": contact_id}).first()
        return contact_of(row) if row else None

    def upsert(self, account_id: int, email: str, crm_id: str | None,
               attributes: dict[str, str], now: datetime) -> ContactChange:
        """The contact of ``email``, created or updated with the crm id and attributes given."""
        created = run(self.connection, _create(self.connection.dialect.name), {
            "account_id": account_id, "email": email, "crm_id": crm_id,
            "attributes": attributes, "created_at": now, "updated_at": now}).scalar()
        if created is not None:
            return ContactChange(Contact(id=created, email=email, crm_id=crm_id,
                                         attributes=dict(attributes)), "created")
        existing = self.get_by_email(account_id, email)
        updated = existing.updated_by(crm_id, attributes)
        if updated == existing:
            return ContactChange(existing, "unchanged")
        run(self.connection, _MERGE, {"of_account": account_id, "of_id": existing.id,
                                      "attributes": updated.attributes,
                                      "crm_id": updated.crm_id, "updated_at": now})
        return ContactChange(updated, "updated")

    def details(self, account_id: int, contact_id: int) -> ContactRecord:
        return self._record(ContactRecord, select(contacts).where(
            contacts.c.account_id == account_id, contacts.c.id == contact_id))

    def erase(self, account_id: int, contact_id: int, now: datetime) -> None:
        """Remove a contact's personal data; the row stays so its answers still count."""
        self.connection.execute(update(contacts).where(
            contacts.c.account_id == account_id, contacts.c.id == contact_id).values(
            email=f"erased-{contact_id}@erased.invalid", crm_id=None, attributes={},
            erased_at=now, updated_at=now))

    def upsert_many(self, account_id: int, rows: list[tuple[str, str | None, dict[str, str]]],
                    now: datetime) -> dict[str, ContactChange]:
        """Contacts of many (email, crm_id, attributes) rows, by email."""
        # Insert first, skipping conflicts, and read back only the contacts that already
        # existed (or that another request inserted meanwhile): a call about new people,
        # the common case of a trigger, then costs one statement per chunk.
        new = {email: {"account_id": account_id, "email": email, "crm_id": crm_id,
                       "attributes": attributes, "created_at": now, "updated_at": now}
               for email, crm_id, attributes in rows}
        current: dict[str, Contact] = {}
        for chunk in chunks(list(new.values())):
            inserted = run_rows(self.connection, _create_many(self.connection.dialect.name),
                                chunk)
            for contact_id, email in inserted:
                current[email] = Contact(id=contact_id, email=email, crm_id=new[email]["crm_id"],
                                         attributes=dict(new[email]["attributes"]))
        created = set(current)
        existing = [email for email in new if email not in created]
        current.update(self.by_emails(account_id, existing) if existing else {})
        outcome: dict[str, ContactChange] = {}
        changes = []
        for email, crm_id, attributes in rows:
            contact = current[email]
            updated = contact.updated_by(crm_id, attributes)
            if updated != contact:
                contact = current[email] = updated
                changes.append(contact)
                state = "created" if email in created else "updated"
            elif email in outcome:
                state = outcome[email].state
            else:
                state = "created" if email in created else "unchanged"
            outcome[email] = ContactChange(contact, state)
        for contact in {c.email: c for c in changes}.values():
            self.connection.execute(update(contacts).where(
                contacts.c.account_id == account_id, contacts.c.id == contact.id).values(
                crm_id=contact.crm_id, attributes=contact.attributes, updated_at=now))
        return outcome

    def by_emails(self, account_id: int, emails: list[str]) -> dict[str, Contact]:
        found = {}
        for chunk in chunks(emails):
            for row in self.connection.execute(select(contacts).where(
                    contacts.c.account_id == account_id,
                    among(self.connection, contacts.c.email, chunk))):
                found[row.email] = contact_of(row)
        return found

    def unsubscribe(self, account_id: int, contact_id: int, now: datetime,
                    via: str = "link") -> bool:
        """Mark the contact unsubscribed (by the /u/ ``link`` or the ``crm``); False if it
        already was."""
        return self.connection.execute(update(contacts).where(
            contacts.c.account_id == account_id, contacts.c.id == contact_id,
            contacts.c.unsubscribed_at.is_(None)).values(
                unsubscribed_at=now, unsubscribed_via=via, updated_at=now)).rowcount == 1

    def resubscribe(self, account_id: int, contact_id: int, now: datetime) -> bool:
        """The contact may be surveyed again; False if it was not unsubscribed."""
        return self.connection.execute(update(contacts).where(
            contacts.c.account_id == account_id, contacts.c.id == contact_id,
            contacts.c.unsubscribed_at.is_not(None)).values(
                unsubscribed_at=None, unsubscribed_via=None, updated_at=now)).rowcount == 1

    def find(self, account_id: int, list_name: str | None, filters: dict[str, set[str]],
             suppressed: bool, offset: int, limit: int) -> tuple[list[ContactRecord], int]:
        """Contacts (not erased) in list ``list_name``, whose attributes match ``filters``
        (one of the values per name), only the unsubscribed ones if ``suppressed``: a page
        in id order, and how many there are in all."""
        where = [contacts.c.account_id == account_id, contacts.c.erased_at.is_(None)]
        for name, values in filters.items():
            where.append(contacts.c.attributes[name].as_string().in_(sorted(values)))
        if suppressed:
            where.append(contacts.c.unsubscribed_at.is_not(None))
        if list_name is not None:
            where.append(contacts.c.id.in_(
                select(list_members.c.contact_id)
                .join(contact_lists, (contact_lists.c.account_id == list_members.c.account_id)
                      & (contact_lists.c.id == list_members.c.list_id))
                .where(list_members.c.account_id == account_id,
                       contact_lists.c.name == list_name)))
        page = self._records(ContactRecord, select(contacts).where(*where)
                             .order_by(contacts.c.id).offset(offset).limit(limit))
        total = self.connection.execute(select(func.count()).select_from(contacts)
                                        .where(*where)).scalar_one()
        return page, total

    def lists_of(self, account_id: int, contact_ids: list[int]) -> dict[int, list[str]]:
        """The names of the lists each contact belongs to, sorted."""
        found: dict[int, list[str]] = {contact_id: [] for contact_id in contact_ids}
        for chunk in chunks(contact_ids):
            for contact_id, name in self.connection.execute(
                    select(list_members.c.contact_id, contact_lists.c.name)
                    .join(contact_lists,
                          (contact_lists.c.account_id == list_members.c.account_id)
                          & (contact_lists.c.id == list_members.c.list_id))
                    .where(list_members.c.account_id == account_id,
                           list_members.c.contact_id.in_(chunk))
                    .order_by(contact_lists.c.name)):
                found[contact_id].append(name)
        return found


class ListRepository(Repository):
    def get_or_create(self, account_id: int, name: str, now: datetime) -> int:
        self.connection.execute(insert_ignoring_conflicts(self.connection, contact_lists)
                                .values(account_id=account_id, name=name, created_at=now)
                                .on_conflict_do_nothing(index_elements=["account_id", "name"]))
        return self.connection.execute(select(contact_lists.c.id).where(
            contact_lists.c.account_id == account_id,
            contact_lists.c.name == name)).scalar_one()

    def member_contacts(self, account_id: int, name: str) -> list[Contact]:
        rows = self.connection.execute(
            select(contacts).join(list_members, (list_members.c.account_id == contacts.c.account_id)
                                  & (list_members.c.contact_id == contacts.c.id))
            .join(contact_lists, (contact_lists.c.account_id == list_members.c.account_id)
                  & (contact_lists.c.id == list_members.c.list_id))
            .where(contact_lists.c.account_id == account_id, contact_lists.c.name == name,
                   list_members.c.account_id == account_id, contacts.c.account_id == account_id,
                   contacts.c.erased_at.is_(None))
            .order_by(contacts.c.id))
        return [contact_of(row) for row in rows]

    def members(self, account_id: int, list_id: int) -> set[int]:
        return set(self.connection.execute(select(list_members.c.contact_id).where(
            list_members.c.account_id == account_id, list_members.c.list_id == list_id)).scalars())

    def add_members(self, account_id: int, list_id: int, contact_ids: list[int],
                    now: datetime) -> int:
        """Add contacts to a list; how many were not members yet.

        ON CONFLICT DO NOTHING: a concurrent call adding the same contacts (both read
        the list before either committed) finds them added, not a key violation.
        """
        added = 0
        for chunk in chunks(contact_ids):
            added += len(self.connection.execute(
                insert_ignoring_conflicts(self.connection, list_members)
                .on_conflict_do_nothing(index_elements=["account_id", "list_id", "contact_id"])
                .returning(list_members.c.contact_id),
                [{"account_id": account_id, "list_id": list_id, "contact_id": c,
                  "added_at": now} for c in chunk]).all())
        return added

    def remove_members(self, account_id: int, list_id: int, contact_ids: list[int]) -> int:
        """Remove contacts from a list; how many were members (a concurrent call may have
        removed some first)."""
        removed = 0
        for chunk in chunks(contact_ids):
            removed += self.connection.execute(list_members.delete().where(
                list_members.c.account_id == account_id, list_members.c.list_id == list_id,
                list_members.c.contact_id.in_(chunk))).rowcount
        return removed
