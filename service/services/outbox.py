"""The transactional outbox: effects of a state change, written in its transaction and
delivered by the worker with exponential backoff, an attempt limit and a visible dead state."""
from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.domain.errors import NotFound, ValidationError
from service.domain.mail import notification
from service.domain.webhooks import new_secret
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.crm import decrypt
from service.services.records import timestamp
from service.services.runtime import Runtime, UnitOfWork

#: Every job a worker claims (mails, deliveries) is leased this long: short, so that
#: the jobs of a killed worker are taken over within about a minute; a living worker
#: renews the lease of the jobs it still has (service.worker.leased).
LEASE = timedelta(minutes=1)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=6)
#: 1 min doubling to a 6 h cap: sixteen attempts spread over about two days.
MAX_ATTEMPTS = 16


def retry_delay(attempts: int, rng: random.Random = random.Random()) -> timedelta:
    """Exponential backoff with +-20% jitter: 1 min, 2, 4, ... capped at 6 hours."""
    base = min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)
    return base * rng.uniform(0.8, 1.2)


def queue_webhooks(uow, account_id: int, campaign, event: str, key: str, data: dict,
                   now: datetime) -> None:
    """Queue ``event`` for each webhook of the campaign (call inside the state change's
    transaction); ``key`` names the event instance, so retries keep one webhook-id."""
    uow.outbox.add_many(account_id, [{
        "kind": "webhook", "event": event, "target": url,
        "idempotency_key": f"msg_{key}_{index}",
        "payload": {"type": event, "timestamp": timestamp(now),
                    "data": data}} for index, url in enumerate(campaign.webhooks)], now)


def response_notifications(uow, account_id: int, campaign, survey, response: dict,
                           dashboard_url: str, now: datetime) -> None:
    """Queue the notification mails of a response: every one, or detractors only."""
    if not campaign.notify_emails or (campaign.notify_on == "detractors"
                                      and response["nps_category"] != "detractor"):
        return
    subject, text = notification(campaign.name, survey, response["answers"], response["email"],
                                 response["crm_id"], response["nps_score"],
                                 response["nps_category"], dashboard_url)
    uow.outbox.add_many(account_id, [{
        "kind": "notification", "event": "response.completed", "target": address,
        "idempotency_key": f"notify_response_{response['response_id']}_{index}",
        "payload": {"type": "notification", "subject": subject, "text": text,
                    "data": {"response_id": response["response_id"],
                             "email": response["email"]}}}
        for index, address in enumerate(campaign.notify_emails)], now)


@dataclass
class OutboundJob:
    delivery_id: int
    account_id: int
    kind: str
    target: str
    message_id: str
    body: bytes
    secret: str | None
    attempts: int
    payload: dict
    crm: dict | None = None     # the account's CRM connection, secret decrypted


def claim_outbox(rt: Runtime, worker_id: str, limit: int = 50) -> list[OutboundJob]:
    now = rt.clock()
    with rt.uow() as uow:
        rows = uow.outbox.claim_due(worker_id, now, now + LEASE, limit)
        secrets = {row.account_id: uow.outbox.webhook_secret(row.account_id) for row in rows}
        crms = {}
        for account_id in {row.account_id for row in rows if row.kind == "crm"}:
            connection = uow.outbox.crm_connection(account_id)
            crms[account_id] = connection and {
                "connector": connection.connector, "endpoint": connection.endpoint,
                "client_id": connection.client_id, "api_key": connection.api_key,
                "owner": connection.owner,
                "secret": decrypt(rt.secret_key, connection.secret_encrypted)}
        uow.commit()
    return [OutboundJob(row.id, row.account_id, row.kind, row.target, row.idempotency_key,
                        json.dumps(row.payload, ensure_ascii=False,
                                   separators=(",", ":")).encode(),
                        secrets[row.account_id], row.attempts, row.payload,
                        crms.get(row.account_id)) for row in rows]


def renew_leases(rt: Runtime, worker_id: str, held: Iterable[tuple[int, int]],
                 repository: Callable[[UnitOfWork], Any]) -> None:
    """Extend the lease of the (account_id, id) items this worker still holds in the
    repository ``repository(uow)`` (invitations or outbox), one statement per account."""
    with rt.uow() as uow:
        for account_id, ids in _by_account(held).items():
            repository(uow).extend_leases(account_id, ids, worker_id, rt.clock() + LEASE)
        uow.commit()


def _by_account(items: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    """(account_id, id) pairs grouped by account: one statement per account."""
    grouped: dict[int, list[int]] = {}
    for account_id, item_id in items:
        grouped.setdefault(account_id, []).append(item_id)
    return grouped


def renew_outbox(rt: Runtime, worker_id: str, jobs: list[OutboundJob]) -> None:
    """Extend the lease of the deliveries this worker still has to make."""
    renew_leases(rt, worker_id, ((job.account_id, job.delivery_id) for job in jobs),
                 lambda uow: uow.outbox)


def record_delivered(rt: Runtime, worker_id: str, jobs: Iterable[OutboundJob]) -> int:
    """Record deliveries made, in one commit (one statement per account); how many were
    still this worker's to finish (a lease lost to another worker is not overwritten)."""
    with rt.uow() as uow:
        done = sum(uow.outbox.finish_delivered(account_id, ids, worker_id, rt.clock())
                   for account_id, ids in _by_account(
                       (job.account_id, job.delivery_id) for job in jobs).items())
        uow.commit()
    return done


def record_failed(rt: Runtime, worker_id: str, job: OutboundJob, error: str,
                  retry_after: timedelta | None = None) -> str:
    """Back off (at least as long as the receiver's Retry-After), or dead at the limit."""
    now = rt.clock()
    attempts = job.attempts + 1
    dead = attempts >= MAX_ATTEMPTS
    delay = max(retry_delay(attempts), retry_after or timedelta(0))
    with rt.uow() as uow:
        uow.outbox.finish(job.account_id, job.delivery_id, worker_id, attempts=attempts,
                          last_error=error[:500],
                          state="dead" if dead else "pending",
                          next_attempt_at=now if dead else now + delay)
        uow.commit()
    return "dead" if dead else "retry"


def _delivery(row) -> m.Delivery:
    return m.Delivery(delivery_id=row.id, kind=row.kind, event=row.event, target=row.target,
                      state=row.state, attempts=row.attempts,
                      truncated=list((row.payload or {}).get("truncated", [])),
                      idempotency_key=row.idempotency_key, created_at=row.created_at,
                      next_attempt_at=row.next_attempt_at if row.state == "pending" else None,
                      delivered_at=row.delivered_at, last_error=row.last_error)


@operation("ListDeliveries", scope="admin", audited=False, errors=(ValidationError,))
def list_deliveries(rt: Runtime, principal: Principal,
                    request: m.ListDeliveriesRequest) -> m.ListDeliveriesResult:
    """Outbox entries (webhooks), newest first, optionally in one state: pending, delivered, dead."""
    if request.state not in (None, "pending", "delivered", "dead"):
        raise ValidationError("state must be pending, delivered or dead.", field="state")
    with rt.uow(read_only=True) as uow:
        rows = uow.outbox.list(principal.account_id, request.state, request.limit or 100)
    return m.ListDeliveriesResult(deliveries=[_delivery(row) for row in rows])


@operation("RetryDelivery", scope="admin", audited=True, errors=(NotFound,))
def retry_delivery(rt: Runtime, principal: Principal,
                   request: m.RetryDeliveryRequest) -> m.Delivery:
    """Put a dead delivery back in the queue; it is attempted again at once."""
    now = rt.clock()
    with rt.uow() as uow:
        if not uow.outbox.retry(principal.account_id, request.delivery_id, now):
            raise NotFound(f"No dead delivery {request.delivery_id} in your account.")
        [row] = [r for r in uow.outbox.list(principal.account_id, None, 1000)
                 if r.id == request.delivery_id]
        uow.commit()
    return _delivery(row)


@operation("RotateWebhookSecret", scope="admin", audited=True, errors=(ValidationError,))
def rotate_webhook_secret(rt: Runtime, principal: Principal,
                          request: m.RotateWebhookSecretRequest) -> m.WebhookSecret:
    """A new secret for signing your webhooks (shown only here); the old one stops at once."""
    if not request.confirm:
        raise ValidationError("Set confirm to true to replace the secret.", field="confirm")
    secret, now = new_secret(), rt.clock()
    with rt.uow() as uow:
        uow.outbox.set_webhook_secret(principal.account_id, secret, now)
        uow.commit()
    return m.WebhookSecret(secret=secret, created_at=now)
