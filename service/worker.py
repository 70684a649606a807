"""`feedloop worker`: sends due invitations and reminders, runs recurrences and scheduled
dumps, forever."""
from __future__ import annotations

import logging
import os
import signal
import socket
import time
from datetime import timedelta
from typing import Callable, Iterator

from service.domain.mail import Mail, message_key
from service.mail import DeliveryError
from service.services import Runtime
from service.services.delivery import (LEASE, claim_mail, record_failure, record_sent,
                                       renew_mail, run_recurrences)
from service.outbound import OutboundError, post_signed, push_contact
from service.services.dumps import run_scheduled_dumps
from service.services.outbox import (OutboundJob, claim_outbox, record_delivered, record_failed,
                                     renew_outbox)
from service.services.retention import purge_expired
from service.telemetry import DUMP_SECONDS, WORKER_ITEMS, WORKER_ROUNDS

log = logging.getLogger("feedloop.worker")


def run_once(rt: Runtime, sender, worker_id: str, batch: int = 50) -> dict[str, int]:
    """One round: recurrences, dumps, deliveries, what is past its retention, then every
    mail due now, batch by batch."""
    recurrences = run_recurrences(rt)
    started = time.perf_counter()
    dumps = run_scheduled_dumps(rt)
    if dumps:
        DUMP_SECONDS.labels("scheduled").observe(time.perf_counter() - started)
    counts = {"recurrences": recurrences, "dumps": dumps, "sent": 0, "retry": 0, "dead": 0,
              **deliver_outbox(rt, worker_id, batch, sender), "purged": purge_expired(rt)}
    while True:
        jobs = claim_mail(rt, worker_id, batch)
        for job in leased(rt, jobs, lambda rest: renew_mail(rt, worker_id, rest)):
            try:
                sender.send(job.mail)
            except DeliveryError as error:
                outcome = record_failure(rt, worker_id, job, str(error), error.temporary)
                counts[outcome] += 1
                # The address stays out of the log: the invitation id identifies the mail.
                log.warning("invitation %s: %s (%s)", job.invitation_id, error, outcome)
                continue
            if record_sent(rt, worker_id, job):
                counts["sent"] += 1
        if len(jobs) < batch:
            return counts


#: Deliveries made are recorded together, up to this many in one commit, ...
FINISH_BATCH = 20
#: ... and before the next delivery starts once the oldest of them is this old.
FINISH_WAIT = timedelta(seconds=2)


def deliver_outbox(rt: Runtime, worker_id: str, batch: int = 50,
                   sender=None) -> dict[str, int]:
    """Deliver every due outbox entry (CRM pushes, webhooks, notification mails).

    Deliveries made are recorded several to a commit. That stays safe: an entry delivered
    but not recorded yet when the worker dies is delivered again once its lease ends, with
    the same idempotency key (webhook-id, Message-ID) — as when a worker died between one
    delivery and its commit; the batch only widens that window to FINISH_WAIT plus one
    delivery, and what was delivered is recorded before any lease is renewed, so never
    after its own lease ended.
    """
    counts = {"delivered": 0, "delivery_retry": 0, "delivery_dead": 0}
    made: list[OutboundJob] = []   # delivered, not recorded yet
    first_made_at = rt.clock()

    def record() -> None:
        if made:
            counts["delivered"] += record_delivered(rt, worker_id, made)
            made.clear()

    def renew(rest: list[OutboundJob]) -> None:
        record()   # what was delivered is done before its lease could lapse
        renew_outbox(rt, worker_id, rest)

    while True:
        jobs = claim_outbox(rt, worker_id, batch)
        for job in leased(rt, jobs, renew):
            if len(made) >= FINISH_BATCH or made and rt.clock() - first_made_at >= FINISH_WAIT:
                record()
            try:
                if job.kind == "crm":
                    if job.crm is None:
                        raise OutboundError("no CRM connection is configured any more")
                    push_contact(job.crm, job.payload, job.message_id, rt.destinations)
                elif job.kind == "notification":
                    if sender is None:
                        raise OutboundError("no mail sender in this worker")
                    try:
                        sender.send(Mail(to=job.target, subject=job.payload["subject"],
                                         text=job.payload["text"], html=None,
                                         key=message_key(rt.secret_key, job.message_id)))
                    except DeliveryError as error:
                        raise OutboundError(str(error)) from None
                else:
                    post_signed(job.target, job.body, job.message_id, job.secret,
                                rt.destinations)
            except OutboundError as error:
                outcome = record_failed(rt, worker_id, job, str(error), error.retry_after)
                counts[f"delivery_{outcome}"] += 1
                log.warning("delivery %s: %s (%s)", job.delivery_id, error, outcome)
                continue
            if not made:
                first_made_at = rt.clock()
            made.append(job)
        record()
        if len(jobs) < batch:
            return counts


def leased(rt: Runtime, jobs: list, renew: Callable[[list], None]) -> Iterator:
    """The jobs one by one, renewing the lease of those not done yet every third of a lease.

    Leases are short so that a killed worker's jobs are taken over within a minute;
    a worker slowed down by a slow SMTP server or receiver keeps its own.
    """
    renewed = rt.clock()
    for index, job in enumerate(jobs):
        if rt.clock() - renewed >= LEASE / 3:
            renew(jobs[index:])
            renewed = rt.clock()
        yield job


def run_forever(rt: Runtime, sender, interval: float, stop: Callable[[], bool]) -> None:
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    log.info("worker %s started", worker_id)
    while not stop():
        try:
            counts = run_once(rt, sender, worker_id)
            log.info("round %s", " ".join(f"{name}={n}" for name, n in counts.items()))
            WORKER_ROUNDS.labels("ok").inc()
            for name, n in counts.items():
                WORKER_ITEMS.labels(name).inc(n)
        except Exception:  # a database hiccup must not end the worker: log, wait, go on
            WORKER_ROUNDS.labels("failed").inc()
            log.exception("worker round failed; trying again in %ss", interval)
        deadline = time.monotonic() + interval
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(0.2, interval))


def install_stop_signals() -> Callable[[], bool]:
    """SIGTERM/SIGINT finish the current mail and stop the loop."""
    stopping: list[bool] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    return lambda: bool(stopping)
