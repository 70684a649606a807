"""Tracking links: personal URLs for one contact of a campaign, and back from a URL's token."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, TypeVar

from service.domain.distribution import (Campaign, Invitation, Status, check_attributes,
                                         clean_params, quarantine_end)
from service.domain.errors import (Conflict, DuplicateEvent, Quarantined, UnknownCampaign,
                                   Unsubscribed, ValidationError)
from service.domain.surveys import normalize_email
from service.domain.tokens import make_token, new_nonce, split_token, verify_token
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.runtime import Runtime, UnitOfWork
from service.services.surveys import get_campaign_of

if TYPE_CHECKING:  # for the annotations only: services never call storage directly
    from service.storage.repositories.invitations import Link

T = TypeVar("T")


def pairs_to_dict(pairs: list, where: str) -> dict[str, str]:
    """Name/value pairs as a dict; a name given twice is refused, not silently merged."""
    result: dict[str, str] = {}
    for pair in pairs:
        if pair.name in result:
            raise ValidationError(f"'{pair.name}' is given twice in {where}.", field=where)
        result[pair.name] = pair.value
    return result


def token_of(rt: Runtime, invitation: Invitation) -> str:
    return make_token(rt.secret_key, invitation.nonce, invitation.campaign_id,
                      invitation.expires_at, invitation.params, invitation.account_id)


def find_invitation_by_token(rt: Runtime, uow: UnitOfWork, token: str) -> Invitation | None:
    """The invitation of a genuine token; None for unknown or tampered tokens."""
    return _genuine(rt, token, _look_up(uow, token, uow.invitations.get_by_nonce),
                    lambda invitation: invitation)


def find_link_by_token(rt: Runtime, uow: UnitOfWork, token: str) -> Link | None:
    """The invitation of a genuine token with its campaign, survey and contact, read in
    one statement (what a survey page needs); None for unknown or tampered tokens."""
    return _genuine(rt, token, _look_up(uow, token, uow.invitations.of_link),
                    lambda link: link.invitation)


def _look_up(uow: UnitOfWork, token: str, by_nonce: Callable[[int, bytes], T]) -> T | None:
    parts = split_token(token)
    if parts is None:
        return None
    account_id, nonce = parts
    if account_id is None:  # a token issued before tokens named their account
        account_id = uow.directory.account_of_nonce(nonce)
    return by_nonce(account_id, nonce) if account_id is not None else None


def _genuine(rt: Runtime, token: str, found: T | None,
             invitation_of: Callable[[T], Invitation]) -> T | None:
    if found is None:
        return None
    invitation = invitation_of(found)
    if not verify_token(rt.secret_key, token, invitation.campaign_id, invitation.expires_at,
                        invitation.params, invitation.account_id):
        return None
    return found


def tracking_result(rt: Runtime, invitation: Invitation, now: datetime) -> m.TrackingUrl:
    return m.TrackingUrl(url=rt.tracking_url(token_of(rt, invitation)),
                         invitation_id=invitation.id, status=invitation.effective_status(now),
                         expires_at=invitation.expires_at)


def check_quarantine(uow, account_id: int, campaign: Campaign, contact_id: int, email: str,
                     now: datetime) -> None:
    """Raise Quarantined when the contact was invited too recently to be invited again."""
    scope_campaign = None if campaign.quarantine_scope == "account" else campaign.id
    last = uow.invitations.last_invited_at(account_id, contact_id, scope_campaign)
    until = quarantine_end(last, campaign.quarantine_days)
    if until is not None and now < until:
        where = "any campaign" if scope_campaign is None else f"campaign {campaign.id}"
        raise Quarantined(
            f"{email} was invited by {where} on {last:%Y-%m-%d %H:%M} UTC; the "
            f"{campaign.quarantine_days}-day quarantine ends {until:%Y-%m-%dT%H:%M:%SZ}.",
            until=until)


@operation("GetTrackingUrl", scope="trigger", audited=False,
           errors=(UnknownCampaign, Quarantined, Unsubscribed, Conflict, ValidationError))
def get_tracking_url(rt: Runtime, principal: Principal,
                     request: m.GetTrackingUrlRequest) -> m.TrackingUrl:
    """The personal survey link of one email, with your parameters embedded in it."""
    email = normalize_email(request.email)
    params = clean_params(pairs_to_dict(request.params, "params"))
    attributes = pairs_to_dict(request.attributes, "attributes")
    if attributes:
        with rt.uow(read_only=True) as uow:
            check_attributes(uow.attributes.all(principal.account_id), attributes)
    if not request.event_id:
        again = _open_link_again(rt, principal, request, email, params, attributes)
        if again is not None:
            return again
    else:
        # A repeat of an earlier event must answer with the first link (a new link for
        # the email would differ): one read, without the write lock, answers a repeat.
        with rt.uow(read_only=True) as uow:
            repeat = _repeat_of_event(rt, uow, principal, request.campaign_id,
                                      request.event_id, email, rt.clock())
        if repeat is not None:
            return repeat
    # The first try writes as for a new event; the unique key of (campaign, event id)
    # or a refusal sends it to look the event up (another call may have recorded it).
    return once_per_event(lambda look_up: _issue_link(rt, principal, request, email, params,
                                                      attributes, look_up), 1)


def _open_link_again(rt: Runtime, principal: Principal, request: m.GetTrackingUrlRequest,
                     email: str, params: dict[str, str],
                     attributes: dict[str, str]) -> m.TrackingUrl | None:
    """The link of an open send asked for again (without an event id), read without the
    write lock: what _issue_link answers when it has nothing to write (an active campaign,
    a contact the request does not change). None leaves every other case to _issue_link,
    so the answers stay the same; SQLite readers then never queue behind writers."""
    now = rt.clock()
    with rt.uow(read_only=True) as uow:
        send = uow.invitations.latest_send(principal.account_id, request.campaign_id, email)
    if send is None:   # no such campaign: _issue_link says so
        return None
    contact = send.contact
    if (send.campaign.status != "active" or contact is None or contact.unsubscribed
            or contact.updated_by(request.crm_id, attributes) != contact):
        return None
    return tracking_result(rt, send.latest, now) \
        if _same_open_send(send.latest, params, attributes, now) else None


def _same_open_send(latest: Invitation | None, params: dict[str, str],
                    attributes: dict[str, str], now: datetime) -> bool:
    """The contact's latest send of the campaign is open and asked for again: the same
    parameters, and no attribute that differs from those of that send (other attributes,
    say another store, make it another transaction with its own link)."""
    return (latest is not None and latest.is_open(now) and latest.params == params
            and attributes.items() <= latest.attributes.items())


def once_per_event(attempt: Callable[[bool], T], events: int) -> T:
    """``attempt(look_up_events)`` until no concurrent call records one of its ``events``
    event ids first: the one path by which single and bulk triggers stay idempotent.

    The first try need not look the event ids up (most are new); the unique key of
    (campaign, event id) catches a repeat as DuplicateEvent, and the transaction is then
    done again knowing the earlier invitations, so the caller answers as the first call
    did. A try that looked up and still lost means another call recorded one more of the
    event ids meanwhile, which can happen once per event id: past that, a look-up sees
    them all.
    """
    for look_up in [False] + [True] * events:
        try:
            return attempt(look_up)
        except DuplicateEvent:
            pass
    return attempt(True)


def _issue_link(rt: Runtime, principal: Principal, request: m.GetTrackingUrlRequest, email: str,
                params: dict[str, str], attributes: dict[str, str],
                look_up_event: bool) -> m.TrackingUrl:
    """The link of one trigger, written in one transaction. Without ``look_up_event``
    the event id is taken as new (most are): a repeat then fails on the unique key
    (DuplicateEvent, and once_per_event tries again looking it up), or meets a refusal
    (the campaign paused since, the contact unsubscribed or in quarantine), which is
    answered as the first call was if the event id is recorded."""
    now = rt.clock()
    with rt.uow() as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        if request.event_id and look_up_event:
            repeat = _repeat_of_event(rt, uow, principal, campaign.id, request.event_id, email,
                                      now)
            if repeat is not None:
                return repeat
        try:
            invitation = _new_link(uow, principal, campaign, request, email, params, attributes,
                                   now)
        except (Conflict, Unsubscribed, Quarantined):
            repeat = _repeat_of_event(rt, uow, principal, campaign.id, request.event_id, email,
                                      now) if request.event_id and not look_up_event else None
            if repeat is None:
                raise
            return repeat
        uow.commit()
    return tracking_result(rt, invitation, now)


def _repeat_of_event(rt: Runtime, uow: UnitOfWork, principal: Principal, campaign_id: int,
                     event_id: str, email: str, now: datetime) -> m.TrackingUrl | None:
    """The answer to a repeat of a recorded event: its first link; None for a new event
    (or a campaign that is not the caller's: the write path then says so)."""
    found = uow.invitations.of_event(principal.account_id, campaign_id, event_id)
    if found is None:
        return None
    first, first_email = found
    if first_email != email:
        raise Conflict(f"event_id '{event_id}' was already used for "
                       "another email in this campaign.")
    return tracking_result(rt, first, now)


def _new_link(uow: UnitOfWork, principal: Principal, campaign: Campaign,
              request: m.GetTrackingUrlRequest, email: str, params: dict[str, str],
              attributes: dict[str, str], now: datetime) -> Invitation:
    """The invitation a trigger makes or reuses (an open send asked for again); the
    caller commits."""
    if campaign.status != "active":
        raise Conflict(f"Campaign {campaign.id} is {campaign.status}: no new links are issued.")
    change = uow.contacts.upsert(principal.account_id, email, request.crm_id, attributes, now)
    contact = change.contact
    if contact.unsubscribed:
        raise Unsubscribed(f"{email} has unsubscribed from your surveys.")
    if change.state != "created":  # a new contact has no invitations yet
        latest = uow.invitations.latest(principal.account_id, campaign.id, contact.id)
        if _same_open_send(latest, params, attributes, now):
            return latest  # committed: the contact's new crm id is kept
        check_quarantine(uow, principal.account_id, campaign, contact.id, email, now)
    invitation = new_invitation(campaign, contact.id, params, contact.attributes,
                                request.event_id, now)
    invitation.id = uow.invitations.add(principal.account_id, invitation)
    uow.invitations.record_events(principal.account_id,
                                  creation_history(invitation, now, "GetTrackingUrl"))
    return invitation


def creation_history(invitation: Invitation, now: datetime,
                     source: str) -> list[tuple[int, datetime, str, str]]:
    """The first history events of a stored new invitation."""
    events = [(invitation.id, now, "created", source)]
    if invitation.status == Status.SENT:
        events.append((invitation.id, now, "sent", "link returned to the caller (crm delivery)"))
    return events


def new_invitation(campaign: Campaign, contact_id: int, params: dict[str, str],
                   attributes: dict[str, str], event_id: str | None, now: datetime,
                   send_at: datetime | None = None) -> Invitation:
    """An invitation as the campaign's delivery mode starts it, with the attributes of its send."""
    if campaign.delivery == "crm":
        # The caller sends the link itself: it is out as soon as it is handed back.
        status, sent_at, send_at = Status.SENT, now, None
    else:
        status, sent_at = Status.SCHEDULED, None
        send_at = send_at or now + timedelta(minutes=campaign.send_delay_minutes)
    return Invitation(campaign_id=campaign.id, account_id=campaign.account_id,
                      contact_id=contact_id, nonce=new_nonce(),
                      params=params, attributes=dict(attributes), status=status, created_at=now,
                      expires_at=campaign.link_expiry(now), event_id=event_id or None,
                      send_at=send_at, sent_at=sent_at)
