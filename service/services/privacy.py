"""The rights of the people surveyed: erasure and access to everything held about them."""
from __future__ import annotations

from service.domain.errors import NotFound, ValidationError
from service.domain.surveys import normalize_email
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.results import answer_list, param_list
from service.services.runtime import Runtime
from service.services.surveys import surveys_of_campaigns

#: Answers that may identify a person; erasure removes them, the rest stays for metrics.
PERSONAL_ANSWER_TYPES = ("text", "email")


def _contact_of(uow, principal: Principal, email: str):
    contact = uow.contacts.get_by_email(principal.account_id, normalize_email(email))
    if contact is None:
        raise NotFound("No contact with that email in your account.")
    return contact


@operation("EraseContact", scope="admin", audited=True, errors=(NotFound, ValidationError))
def erase_contact(rt: Runtime, principal: Principal,
                  request: m.EraseContactRequest) -> m.EraseContactResult:
    """Erase a person's personal data (also from undelivered webhooks); scores and choices stay, anonymised."""
    now = rt.clock()
    with rt.uow() as uow:
        contact = _contact_of(uow, principal, request.email)
        invitations = uow.invitations.erase_contact(principal.account_id, contact.id)
        rows = uow.responses.of_contact(principal.account_id, contact.id)
        surveys = surveys_of_campaigns(uow, principal.account_id, {r.campaign_id for r in rows})
        for row in rows:
            survey = surveys[row.campaign_id]
            personal = {q.key for q in survey.questions if q.type in PERSONAL_ANSWER_TYPES} \
                if survey else set(row.answers)
            kept = {k: v for k, v in row.answers.items() if k not in personal}
            uow.responses.anonymise(principal.account_id, row.id, kept, now)
        uow.outbox.erase_contact(principal.account_id, contact.email, now)
        uow.contacts.erase(principal.account_id, contact.id, now)
        uow.commit()
    return m.EraseContactResult(contact_id=contact.id, invitations=invitations,
                                responses=len(rows))


@operation("ExportContactData", scope="admin", audited=False, errors=(NotFound, ValidationError))
def export_contact_data(rt: Runtime, principal: Principal,
                        request: m.ExportContactDataRequest) -> m.ContactData:
    """Everything held about one email, for a person's access request."""
    with rt.uow(read_only=True) as uow:
        contact = _contact_of(uow, principal, request.email)
        details = uow.contacts.details(principal.account_id, contact.id)
        invitations = uow.invitations.of_contact(principal.account_id, contact.id)
        rows = uow.responses.of_contact(principal.account_id, contact.id)
        surveys = surveys_of_campaigns(uow, principal.account_id, {r.campaign_id for r in rows})
    return m.ContactData(
        email=contact.email, crm_id=contact.crm_id,
        attributes=[m.Attribute(name=k, value=v) for k, v in contact.attributes.items()],
        created_at=details.created_at, updated_at=details.updated_at,
        unsubscribed_at=details.unsubscribed_at,
        invitations=[m.InvitationData(
            invitation_id=i.id, campaign_id=i.campaign_id, status=i.status,
            created_at=i.created_at, params=param_list(i.params), sent_at=i.sent_at,
            opened_at=i.opened_at, responded_at=i.responded_at, expires_at=i.expires_at,
            event_id=i.event_id) for i in invitations],
        responses=[m.ResponseData(
            response_id=r.id, campaign_id=r.campaign_id, submitted_at=r.submitted_at,
            answers=answer_list(surveys[r.campaign_id], r.answers), params=param_list(r.params),
            extra_params=param_list(r.extra_params)) for r in rows])
