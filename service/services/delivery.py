"""Email delivery by the worker: due invitations and reminders, retries, recurrences.

The worker claims due mails under a lease (a short transaction), sends them
outside any transaction, and records each outcome in another: a request never
waits on SMTP, a send is recorded exactly once, and a worker killed mid-way
only leaves a lease that expires, after which another worker tries again.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from service.domain.distribution import Status
from service.domain.mail import Mail, Scale, compose, message_key
from service.services import messages as m
from service.services.catalogue import Principal
from service.services.distribution import add_respondents
from service.services.outbox import LEASE, queue_webhooks, renew_leases, retry_delay
from service.services.records import timestamp
from service.services.surveys import SCHEDULED_LEASE, claim_scheduled
from service.services.runtime import Runtime
from service.services.tracking import token_of

MAX_ATTEMPTS = 8


@dataclass
class MailJob:
    account_id: int
    invitation_id: int
    kind: str            # "invitation" or "reminder"
    mail: Mail
    attempts: int


def claim_mail(rt: Runtime, worker_id: str, limit: int = 50) -> list[MailJob]:
    """Lease up to ``limit`` due mails; unsubscribed contacts are suppressed, not mailed."""
    now = rt.clock()
    jobs: list[MailJob] = []
    with rt.uow() as uow:
        claimed = uow.invitations.claim_due_mail(worker_id, now, now + LEASE, limit)
        settings: dict[int, tuple] = {}
        for invitation in claimed:
            account_id = invitation.account_id
            if invitation.campaign_id not in settings:
                campaign = uow.campaigns.get(account_id, invitation.campaign_id)
                survey = uow.surveys.get(account_id, campaign.survey_id)
                settings[invitation.campaign_id] = (campaign, survey)
            campaign, survey = settings[invitation.campaign_id]
            contact = uow.contacts.get(account_id, invitation.contact_id)
            kind = "invitation" if invitation.status in Status.UNSENT else "reminder"
            if contact.unsubscribed:
                uow.invitations.apply(invitation, invitation.suppressed("unsubscribed"), now,
                                      lease_owner=worker_id)
                continue
            token = token_of(rt, invitation)
            values = {"url": rt.tracking_url(token), "unsubscribe_url":
                      rt.unsubscribe_url(token), "email": contact.email,
                      "survey_title": survey.title, "campaign_name": campaign.name,
                      **{f"attr.{k}": v for k, v in invitation.attributes.items()},
                      **{f"param.{k}": v for k, v in invitation.params.items()}}
            first = survey.one_click_question
            scale = Scale(first.text, *first.bounds()) if first is not None else None
            # The same mail (an invitation, the n-th reminder) has the same Message-ID at
            # every attempt: a receiver can tell a mail re-sent after a crash is a duplicate.
            number = invitation.reminders_sent + 1 if kind == "reminder" else 0
            mail = replace(compose(kind, campaign.templates, survey.language, contact.email,
                                   values, scale),
                           key=message_key(rt.secret_key, f"{kind}:{invitation.id}:{number}"))
            jobs.append(MailJob(account_id, invitation.id, kind, mail, invitation.attempts))
        uow.commit()
    return jobs


def renew_mail(rt: Runtime, worker_id: str, jobs: list[MailJob]) -> None:
    """Extend the lease of the mails this worker still has to send."""
    renew_leases(rt, worker_id, ((job.account_id, job.invitation_id) for job in jobs),
                 lambda uow: uow.invitations)


def record_sent(rt: Runtime, worker_id: str, job: MailJob) -> bool:
    """The mail was accepted by the SMTP server: the invitation moves on, once."""
    now = rt.clock()
    with rt.uow() as uow:
        account_id = job.account_id
        invitation = uow.invitations.get(account_id, job.invitation_id)
        campaign = uow.campaigns.get(account_id, invitation.campaign_id)
        if job.kind == "invitation":
            change = invitation.mailed(now, campaign.next_reminder(now, 0))
        else:
            change = invitation.reminded(
                now, campaign.next_reminder(now, invitation.reminders_sent + 1))
        done = uow.invitations.apply(invitation, change, now, lease_owner=worker_id)
        if done and job.kind == "invitation":
            queue_webhooks(uow, account_id, campaign, "invitation.sent",
                           f"invitation_{job.invitation_id}_sent",
                           {"invitation_id": job.invitation_id, "campaign_id": campaign.id,
                            "sent_at": timestamp(now)}, now)
        uow.commit()
    return done


def record_failure(rt: Runtime, worker_id: str, job: MailJob, error: str,
                   temporary: bool) -> str:
    """A refused or failed send: retried with backoff, or dead after MAX_ATTEMPTS (or at once
    when the refusal is permanent). Returns "retry" or "dead"."""
    now = rt.clock()
    attempts = job.attempts + 1
    dead = not temporary or attempts >= MAX_ATTEMPTS
    with rt.uow() as uow:
        account_id = job.account_id
        invitation = uow.invitations.get(account_id, job.invitation_id)
        change = invitation.mail_failed(job.kind == "reminder", attempts, error,
                                        None if dead else now + retry_delay(attempts))
        if (uow.invitations.apply(invitation, change, now, lease_owner=worker_id)
                and dead and job.kind == "invitation"):
            campaign = uow.campaigns.get(account_id, invitation.campaign_id)
            queue_webhooks(uow, account_id, campaign, "invitation.bounced",
                           f"invitation_{job.invitation_id}_bounced",
                           {"invitation_id": job.invitation_id, "campaign_id": campaign.id,
                            "reason": error[:500]}, now)
        uow.commit()
    return "dead" if dead else "retry"


def run_recurrences(rt: Runtime) -> int:
    """Invite the members of each recurring campaign's list again when its period is up.

    Each recurrence is claimed first (one worker runs it) by moving its last run to
    where it falls due again once the lease is over, should this worker die mid-way;
    the event ids of a cycle keep a repeated run from inviting anybody twice.
    """
    now = rt.clock()
    with rt.uow(read_only=True) as uow:
        due = [campaign for campaign in uow.campaigns.recurring(now)
               if campaign.last_recurrence_at is None
               or campaign.last_recurrence_at + timedelta(days=campaign.recurrence_days) <= now]
    invited = 0
    for campaign in due:
        lease = now + SCHEDULED_LEASE - timedelta(days=campaign.recurrence_days)
        if not claim_scheduled(rt, campaign, "last_recurrence_at",
                               campaign.last_recurrence_at, lease):
            continue
        account_id = campaign.account_id
        with rt.uow(read_only=True) as uow:
            members = uow.lists.member_contacts(account_id, campaign.recurrence_list)
        cycle = f"{now:%Y-%m-%d}"
        rows = [m.Respondent(email=contact.email, event_id=f"recurrence:{cycle}:{contact.id}")
                for contact in members]
        if rows:
            # The same rules as any trigger: quarantine, unsubscribes, duplicates of a re-run.
            result = add_respondents(rt, Principal(account_id, "worker", frozenset({"trigger"})),
                                     m.AddRespondentsRequest(campaign_id=campaign.id,
                                                             respondents=rows))
            invited += result.scheduled + result.sent
        claim_scheduled(rt, campaign, "last_recurrence_at", lease, now)
    return invited
