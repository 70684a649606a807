"""Contacts seen from the CRM: look them up, list them, and honour the opt-outs it records."""
from __future__ import annotations

from typing import TYPE_CHECKING

from service.domain.errors import NotFound, ValidationError
from service.domain.surveys import normalize_email
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.runtime import Runtime, UnitOfWork

if TYPE_CHECKING:  # for the annotations only: services never call storage directly
    from service.storage.records import ContactRecord

DEFAULT_PAGE = 100


def _info(record: ContactRecord, lists: list[str]) -> m.ContactInfo:
    return m.ContactInfo(
        contact_id=record.id, email=record.email, crm_id=record.crm_id,
        attributes=[m.Attribute(name=k, value=v) for k, v in record.attributes.items()],
        lists=lists, created_at=record.created_at, updated_at=record.updated_at,
        suppressed_at=record.unsubscribed_at,
        suppressed_via=record.unsubscribed_via or None)


def _page(uow: UnitOfWork, account_id: int,
          found: tuple[list[ContactRecord], int]) -> m.ListContactsResult:
    records, total = found
    lists = uow.contacts.lists_of(account_id, [record.id for record in records])
    return m.ListContactsResult(contacts=[_info(r, lists[r.id]) for r in records], total=total)


def _contact_id(uow: UnitOfWork, principal: Principal, email: str | None,
                crm_id: str | None) -> int:
    if not email and not crm_id:
        raise ValidationError("Give an email or a crm_id.", field="email")
    contact = (uow.contacts.get_by_email(principal.account_id, normalize_email(email))
               if email else uow.contacts.get_by_crm_id(principal.account_id, crm_id))
    if contact is None:
        raise NotFound("No contact with that email or crm_id in your account.")
    return contact.id


def _contact_info(uow: UnitOfWork, account_id: int, contact_id: int) -> m.ContactInfo:
    return _info(uow.contacts.details(account_id, contact_id),
                 uow.contacts.lists_of(account_id, [contact_id])[contact_id])


@operation("GetContact", scope="read", audited=False, errors=(NotFound, ValidationError))
def get_contact(rt: Runtime, principal: Principal, request: m.GetContactRequest) -> m.ContactInfo:
    """One contact (by email or crm_id) with its attributes, lists and opt-out."""
    with rt.uow(read_only=True) as uow:
        return _contact_info(uow, principal.account_id,
                             _contact_id(uow, principal, request.email, request.crm_id))


@operation("ListContacts", scope="read", audited=False, errors=(ValidationError,))
def list_contacts(rt: Runtime, principal: Principal,
                  request: m.ListContactsRequest) -> m.ListContactsResult:
    """Contacts of a list and/or with given attribute values, a page at a time, oldest first."""
    filters: dict[str, set[str]] = {}
    for item in request.filters:
        filters.setdefault(item.name, set()).update(item.values)
    with rt.uow(read_only=True) as uow:
        return _page(uow, principal.account_id, uow.contacts.find(
            principal.account_id, request.list_name, filters, False, request.offset or 0,
            request.limit or DEFAULT_PAGE))


@operation("SuppressContact", scope="trigger", audited=True, errors=(ValidationError,))
def suppress_contact(rt: Runtime, principal: Principal,
                     request: m.SuppressContactRequest) -> m.ContactInfo:
    """Record an opt-out given in your CRM: no campaign of your account invites the email again."""
    email = normalize_email(request.email)
    now = rt.clock()
    with rt.uow() as uow:
        # An opt-out may come before any survey: the contact is made to carry it.
        contact = uow.contacts.upsert(principal.account_id, email, None, {}, now).contact
        uow.contacts.unsubscribe(principal.account_id, contact.id, now, via="crm")
        info = _contact_info(uow, principal.account_id, contact.id)
        uow.commit()
    return info


@operation("UnsuppressContact", scope="trigger", audited=True, errors=(NotFound, ValidationError))
def unsuppress_contact(rt: Runtime, principal: Principal,
                       request: m.SuppressContactRequest) -> m.ContactInfo:
    """Lift an opt-out (the person opted in again): campaigns may invite the email again."""
    now = rt.clock()
    with rt.uow() as uow:
        contact_id = _contact_id(uow, principal, request.email, None)
        uow.contacts.resubscribe(principal.account_id, contact_id, now)
        info = _contact_info(uow, principal.account_id, contact_id)
        uow.commit()
    return info


@operation("ListSuppressions", scope="trigger", audited=False, errors=())
def list_suppressions(rt: Runtime, principal: Principal,
                      request: m.ListSuppressionsRequest) -> m.ListContactsResult:
    """Contacts who opted out, by the unsubscribe link or SuppressContact, a page at a time."""
    with rt.uow(read_only=True) as uow:
        return _page(uow, principal.account_id, uow.contacts.find(
            principal.account_id, None, {}, True, request.offset or 0,
            request.limit or DEFAULT_PAGE))
