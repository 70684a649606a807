"""Distribution: invitations in bulk, contacts and their attributes, lists, campaign changes."""
from __future__ import annotations

from datetime import datetime

from service.domain.distribution import (Status, check_attributes, clean_params,
                                         next_dump_time, quarantine_end)
from service.domain.errors import (Conflict, DuplicateEvent, NotFound, UnknownCampaign,
                                   ValidationError)
from service.domain.surveys import KEY_PATTERN, normalize_email
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.overlap import alongside
from service.services.runtime import Runtime
from service.services.surveys import (SETTING_FIELDS, TEMPLATE_FIELDS, campaign_info,
                                      get_campaign_of)
from service.services.tracking import (creation_history, find_invitation_by_token,
                                       new_invitation, once_per_event, pairs_to_dict,
                                       token_of, tracking_result)

ATTRIBUTE_KINDS = ("ordinal", "text")


def _contact_fields(definitions: dict, row) -> tuple[str, str | None, dict[str, str]]:
    return (normalize_email(row.email), row.crm_id or None,
            check_attributes(definitions, pairs_to_dict(row.attributes, "attributes")))


#: Rows per write transaction of a bulk call: each one holds SQLite's write lock for
#: a few tens of milliseconds, so single-row calls never queue behind a 10,000-row
#: batch. A call interrupted half way has committed whole batches only; rows with
#: an event id then come back as duplicates when the call is retried.
BATCH_ROWS = 500

#: From this many new invitations in a batch, storing them runs in a thread of its own
#: while their links are signed (a link takes ~7 microseconds, a thread ~100 to start).
ALONGSIDE_ROWS = 64

_Accepted = tuple[int, str, "str | None", dict, dict]  # row, email, crm id, attributes, params


@operation("AddRespondents", scope="trigger", audited=False,
           errors=(UnknownCampaign, ValidationError))
def add_respondents(rt: Runtime, principal: Principal,
                    request: m.AddRespondentsRequest) -> m.AddRespondentsResult:
    """Invite up to 10,000 people at once; one result per row, in row order."""
    rows = request.respondents
    definitions = {}
    if any(row.attributes for row in rows):
        with rt.uow(read_only=True) as uow:
            definitions = uow.attributes.all(principal.account_id)
    results: list[m.RespondentResult | None] = [None] * len(rows)
    accepted, first_of_event = _accepted_rows(rows, definitions, results)
    if not accepted:
        with rt.uow(read_only=True) as uow:
            get_campaign_of(uow, principal, request.campaign_id)
    for start in range(0, len(accepted), BATCH_ROWS):
        batch = accepted[start:start + BATCH_ROWS]
        # Most triggers carry new event ids, so the first try does not look them up: the
        # insert finds a repeat (a retried call, or a concurrent one) and the batch is
        # then done again knowing the earlier invitations, whose rows become duplicates.
        once_per_event(lambda look_up, batch=batch: _invite(
            rt, principal, request.campaign_id, rows, batch, results, look_up),
            sum(1 for index, *_ in batch if rows[index].event_id))
    for index, row in enumerate(rows):
        if results[index] is None:  # a later row repeating an event id of this call
            first = results[first_of_event[row.event_id]]
            results[index] = m.RespondentResult(
                row=index, status="duplicate", email=first.email,
                invitation_id=first.invitation_id, url=first.url,
                reason=f"event_id '{row.event_id}' repeats row {first.row}.")
    counts = {status: sum(r.status == status for r in results)
              for status in ("scheduled", "sent", "suppressed", "duplicate", "invalid")}
    return m.AddRespondentsResult(results=results, **counts)


def _accepted_rows(rows: list[m.Respondent], definitions: dict,
                   results: list) -> tuple[list[_Accepted], dict[str, int]]:
    """The rows to invite, checked outside any transaction; invalid rows get their result."""
    accepted: list[_Accepted] = []
    first_of_event: dict[str, int] = {}
    for index, row in enumerate(rows):
        try:
            email, crm_id, attributes = _contact_fields(definitions, row)
            params = clean_params(pairs_to_dict(row.params, "params"))
        except ValidationError as error:
            results[index] = m.RespondentResult(row=index, status="invalid",
                                                email=row.email, reason=error.message)
            continue
        if row.event_id and row.event_id in first_of_event:
            continue  # answered with the first row's result
        if row.event_id:
            first_of_event[row.event_id] = index
        accepted.append((index, email, crm_id, attributes, params))
    return accepted, first_of_event


def _invite(rt: Runtime, principal: Principal, campaign_id: int, rows: list[m.Respondent],
            batch: list[_Accepted], results: list, look_up_events: bool) -> None:
    """Invite one batch of accepted rows in one transaction, filling in their results.

    Without ``look_up_events``, DuplicateEvent when an event id may have been recorded
    before: the caller then does the batch again with the look-up."""
    now = rt.clock()
    with rt.uow() as uow:
        campaign = get_campaign_of(uow, principal, campaign_id)
        events = [rows[index].event_id for index, *_ in batch if rows[index].event_id]
        earlier = uow.invitations.by_events(principal.account_id, campaign.id, events) \
            if look_up_events and events else {}
        contacts = uow.contacts.upsert_many(
            principal.account_id, [(e, c, a) for _, e, c, a, _ in batch], now)
        scope = None if campaign.quarantine_scope == "account" else campaign.id
        # Contacts created just now have no invitations yet: nothing to look up.
        known = [change.contact.id for change in contacts.values() if change.state != "created"]
        last = uow.invitations.last_invited_many(principal.account_id, known, scope) \
            if known and campaign.quarantine_days > 0 else {}
        pending = []
        for index, email, _, attributes, params in batch:
            row = rows[index]
            contact = contacts[email].contact
            if row.event_id in earlier:
                first = earlier[row.event_id]
                results[index] = m.RespondentResult(
                    row=index, status="duplicate", email=email, invitation_id=first.id,
                    url=rt.tracking_url(token_of(rt, first)),
                    reason=f"event_id '{row.event_id}' was already received.")
                continue
            reason, until = _suppression(campaign, contact.unsubscribed, last.get(contact.id), now)
            if reason and row.event_id and not look_up_events:
                # The suppression may be this very event's earlier invitation (a retried
                # call under quarantine): only the look-up can tell a duplicate from it.
                raise DuplicateEvent(f"event_id '{row.event_id}' may be recorded already.")
            if reason:
                results[index] = m.RespondentResult(row=index, status="suppressed", email=email,
                                                    reason=reason, until=until)
                continue
            invitation = new_invitation(campaign, contact.id, params,
                                        {**contact.attributes, **attributes}, row.event_id, now,
                                        row.send_at)
            last[contact.id] = now  # the same person twice in one call: quarantine applies
            pending.append((index, email, invitation))

        def store() -> None:
            new_ids = uow.invitations.add_many(principal.account_id, [p[2] for p in pending])
            history = []
            for (_, _, invitation), new_id in zip(pending, new_ids):
                invitation.id = new_id
                history.extend(creation_history(invitation, now, "AddRespondents"))
            uow.invitations.record_events(principal.account_id, history)
            uow.commit()

        # Storing waits on the database; the links need only what is known already (a
        # token signs the nonce, not the id) and are made meanwhile.
        with alongside(store, worth_a_thread=len(pending) >= ALONGSIDE_ROWS):
            urls = [rt.tracking_url(token_of(rt, invitation)) for _, _, invitation in pending]
        for (index, email, invitation), url in zip(pending, urls):
            results[index] = m.RespondentResult(row=index, status=invitation.status, email=email,
                                                invitation_id=invitation.id, url=url)


def _suppression(campaign, unsubscribed: bool, last_invited: datetime | None,
                 now: datetime) -> tuple[str | None, datetime | None]:
    if campaign.status != "active":
        return f"campaign_{campaign.status}", None
    if unsubscribed:
        return "unsubscribed", None
    until = quarantine_end(last_invited, campaign.quarantine_days)
    if until is not None and now < until:
        return "quarantine", until
    return None, None


@operation("UpsertContacts", scope="trigger", audited=False, errors=(ValidationError,))
def upsert_contacts(rt: Runtime, principal: Principal,
                    request: m.UpsertContactsRequest) -> m.UpsertContactsResult:
    """Create or update up to 10,000 contacts (email, crm_id, attributes); a result per row."""
    now = rt.clock()
    results: list[m.ContactResult] = []
    with rt.uow() as uow:
        definitions = uow.attributes.all(principal.account_id)
        valid, errors = _valid_rows(definitions, request.contacts)
        outcome = uow.contacts.upsert_many(principal.account_id,
                                           [fields for _, fields in valid], now)
        uow.commit()
    for index, row in enumerate(request.contacts):
        if index in errors:
            results.append(m.ContactResult(row=index, status="invalid", email=row.email,
                                           reason=errors[index]))
        else:
            change = outcome[normalize_email(row.email)]
            results.append(m.ContactResult(row=index, status=change.state,
                                           email=change.contact.email,
                                           contact_id=change.contact.id))
    return m.UpsertContactsResult(results=results)


def _valid_rows(definitions: dict, rows: list) -> tuple[list[tuple[int, tuple]], dict[int, str]]:
    valid, errors = [], {}
    for index, row in enumerate(rows):
        try:
            valid.append((index, _contact_fields(definitions, row)))
        except ValidationError as error:
            errors[index] = error.message
    return valid, errors


@operation("DefineAttribute", scope="admin", audited=True, errors=(ValidationError,))
def define_attribute(rt: Runtime, principal: Principal,
                     request: m.DefineAttributeRequest) -> m.AttributeInfo:
    """Define (or redefine) a background attribute: ordinal with ordered values, or free text."""
    if not KEY_PATTERN.match(request.name):
        raise ValidationError("An attribute name starts with a letter and has only letters, "
                              "digits and underscores (at most 64).", field="name")
    if request.kind not in ATTRIBUTE_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(ATTRIBUTE_KINDS)}.", field="kind")
    values = list(request.values)
    if request.kind == "ordinal" and (not values or len(set(values)) != len(values)
                                      or any(not v.strip() or len(v) > 200 for v in values)):
        raise ValidationError("An ordinal attribute needs distinct, non-empty values "
                              "(at most 200 characters each), in report order.", field="values")
    if request.kind == "text" and values:
        raise ValidationError("A text attribute takes no values.", field="values")
    with rt.uow() as uow:
        uow.attributes.define(principal.account_id, request.name, request.kind, values,
                              rt.clock())
        uow.commit()
    return m.AttributeInfo(name=request.name, kind=request.kind, values=values)


@operation("ListAttributes", scope="read", audited=False, errors=())
def list_attributes(rt: Runtime, principal: Principal,
                    request: m.ListAttributesRequest) -> m.ListAttributesResult:
    """Your attribute definitions, ordinal values in their report order."""
    with rt.uow(read_only=True) as uow:
        found = uow.attributes.all(principal.account_id)
    return m.ListAttributesResult(attributes=[
        m.AttributeInfo(name=row.name, kind=row.kind, values=list(row.values))
        for row in found.values() if request.name in (None, row.name)])


@operation("SyncList", scope="trigger", audited=False, errors=(ValidationError,))
def sync_list(rt: Runtime, principal: Principal, request: m.SyncListRequest) -> m.SyncListResult:
    """Keep a named list in step with a directory: add, remove, or replace its members."""
    if request.mode not in ("add", "remove", "replace"):
        raise ValidationError("mode must be add, remove or replace.", field="mode")
    if not request.list_name.strip():
        raise ValidationError("list_name must not be empty.", field="list_name")
    now = rt.clock()
    with rt.uow() as uow:
        definitions = uow.attributes.all(principal.account_id)
        valid, errors = _valid_rows(definitions, request.contacts)
        list_id = uow.lists.get_or_create(principal.account_id, request.list_name, now)
        members = uow.lists.members(principal.account_id, list_id)
        if request.mode == "remove":
            known = uow.contacts.by_emails(principal.account_id, [f[0] for _, f in valid])
            named = {c.id for c in known.values()}
            to_add, to_remove = set(), named & members
            named_count = len({f[0] for _, f in valid})
        else:
            outcome = uow.contacts.upsert_many(principal.account_id, [f for _, f in valid], now)
            named = {change.contact.id for change in outcome.values()}
            to_add = named - members
            to_remove = members - named if request.mode == "replace" else set()
            named_count = len(named)
        # Counted by the statements, not by the read above: a concurrent call of the
        # same list may have made some of these changes first.
        added = uow.lists.add_members(principal.account_id, list_id, sorted(to_add), now)
        removed = uow.lists.remove_members(principal.account_id, list_id, sorted(to_remove))
        uow.commit()
    unchanged = named_count - (removed if request.mode == "remove" else added)
    return m.SyncListResult(
        list_name=request.list_name, added=added, removed=removed,
        unchanged=unchanged, members=len((members | to_add) - to_remove),
        rejected=[m.RowError(row=i, reason=reason, email=request.contacts[i].email)
                  for i, reason in sorted(errors.items())])


@operation("GetInvitation", scope="read", audited=False, errors=(NotFound,))
def get_invitation(rt: Runtime, principal: Principal,
                   request: m.GetInvitationRequest) -> m.InvitationInfo:
    """One invitation: its status, link, parameters and history."""
    now = rt.clock()
    with rt.uow(read_only=True) as uow:
        invitation = uow.invitations.get(principal.account_id, request.invitation_id)
        if invitation is None:
            raise NotFound(f"No invitation {request.invitation_id} in your account.")
        contact = uow.contacts.get(principal.account_id, invitation.contact_id)
        history = uow.invitations.history(principal.account_id, invitation.id)
    return m.InvitationInfo(
        invitation_id=invitation.id, campaign_id=invitation.campaign_id, email=contact.email,
        crm_id=contact.crm_id, status=invitation.effective_status(now),
        created_at=invitation.created_at, reminders_sent=invitation.reminders_sent,
        url=tracking_result(rt, invitation, now).url,
        params=[m.Param(name=k, value=v) for k, v in invitation.params.items()],
        attributes=[m.Attribute(name=k, value=v) for k, v in invitation.attributes.items()],
        history=[m.HistoryEvent(at=h.at, event=h.event, detail=h.detail) for h in history],
        event_id=invitation.event_id, send_at=invitation.send_at, sent_at=invitation.sent_at,
        opened_at=invitation.opened_at, responded_at=invitation.responded_at,
        expires_at=invitation.expires_at)


@operation("CancelInvitation", scope="trigger", audited=True, errors=(NotFound, Conflict))
def cancel_invitation(rt: Runtime, principal: Principal,
                      request: m.CancelInvitationRequest) -> m.CancelInvitationResult:
    """Withdraw an unanswered invitation (order returned, ticket reopened): no mail or reminder goes out, its link shows a closed page."""
    now = rt.clock()
    with rt.uow() as uow:
        invitation = uow.invitations.get(principal.account_id, request.invitation_id)
        if invitation is None:
            raise NotFound(f"No invitation {request.invitation_id} in your account.")
        if invitation.status == Status.CANCELLED:  # a repeated call: done already
            cancelled_at = next(h.at for h in uow.invitations.history(principal.account_id, invitation.id)
                                if h.event == "cancelled")
            return m.CancelInvitationResult(invitation.id, Status.CANCELLED, cancelled_at)
        if not uow.invitations.apply(invitation, invitation.cancelled(request.reason or ""),
                                     now):
            raise Conflict(f"Invitation {invitation.id} is {invitation.status}: only an "
                           "unanswered invitation can be cancelled.")
        uow.commit()
    return m.CancelInvitationResult(invitation.id, Status.CANCELLED, now)


@operation("ListNonResponders", scope="read", audited=False, errors=(UnknownCampaign,))
def list_non_responders(rt: Runtime, principal: Principal,
                        request: m.ListNonRespondersRequest) -> m.ListNonRespondersResult:
    """Who was invited and has not answered yet (open links), for CRMs sending their own reminders."""
    now = rt.clock()
    with rt.uow(read_only=True) as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        rows, total = uow.invitations.non_responders(
            principal.account_id, campaign.id, request.since, request.offset or 0,
            request.limit or 100, now)
    return m.ListNonRespondersResult(total=total, invitations=[m.NonResponder(
        invitation_id=found.invitation.id, email=found.email, crm_id=found.crm_id,
        status=found.invitation.status, created_at=found.invitation.created_at,
        reminders_sent=found.invitation.reminders_sent, sent_at=found.invitation.sent_at,
        url=rt.tracking_url(token_of(rt, found.invitation))) for found in rows])


@operation("UpdateCampaign", scope="admin", audited=True,
           errors=(UnknownCampaign, Conflict, ValidationError))
def update_campaign(rt: Runtime, principal: Principal,
                    request: m.UpdateCampaignRequest) -> m.CampaignInfo:
    """Change a campaign's settings or status (e.g. pause it); fields left out stay as they are."""
    with rt.uow() as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        if campaign.status == "closed" and request.status not in (None, "closed"):
            raise Conflict(f"Campaign {campaign.id} is closed for good; pause a campaign "
                           "to stop it for a while.")
        for name in (*SETTING_FIELDS, "name", "status"):
            value = getattr(request, name, None)
            if value is not None:
                setattr(campaign, name, value)
        for name in TEMPLATE_FIELDS:
            value = getattr(request, name)
            if value is not None:
                campaign.templates = {**campaign.templates, name: value}
        campaign.validate()
        now = rt.clock()
        if request.dump_every is not None or request.dump_at is not None:
            campaign.next_dump_at = next_dump_time(campaign.dump_every, campaign.dump_at, now)
        uow.campaigns.update(campaign, now)
        uow.commit()
    campaign.updated_at = now
    return campaign_info(rt, campaign)


@operation("CloseCampaign", scope="admin", audited=True, errors=(UnknownCampaign,))
def close_campaign(rt: Runtime, principal: Principal,
                   request: m.CloseCampaignRequest) -> m.CampaignInfo:
    """Close a campaign for good: no new links, mails, reminders or answers; its data stays for export."""
    with rt.uow() as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        if campaign.status != "closed":
            campaign.status = "closed"
            campaign.updated_at = rt.clock()
            uow.campaigns.update(campaign, campaign.updated_at)
            uow.commit()
    return campaign_info(rt, campaign)


def unsubscribe(rt: Runtime, token: str) -> bool:
    """The person behind a link asks never to be surveyed by this account again.

    True once done (also when it already was); False for an invalid token.
    """
    now = rt.clock()
    with rt.uow() as uow:
        invitation = find_invitation_by_token(rt, uow, token)
        if invitation is None:
            return False
        if uow.contacts.unsubscribe(invitation.account_id, invitation.contact_id, now):
            uow.invitations.record_events(invitation.account_id,
                                          [(invitation.id, now, "unsubscribed", "")])
        uow.commit()
    return True
