"""Campaigns and invitations: who is invited, when, and never too often."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from service.domain.errors import ValidationError

DELIVERY_MODES = ("crm", "email")
CAMPAIGN_STATUSES = ("active", "paused", "closed")
QUARANTINE_SCOPES = ("campaign", "account")
NOTIFY_ON = ("all", "detractors")
DUMP_PERIODS = {"": None, "daily": 1, "weekly": 7}
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
#: A parameter name: 1-64 letters, digits (str.isalnum's, which \w holds with "_"), "_",
#: "-" or ".". One match, where a test per character cost 8 us a row of a bulk call.
_PARAM_NAME = re.compile(r"[\w.-]{1,64}")
#: The highest value of each numeric campaign setting (the lowest is 0).
SETTING_LIMITS = {"send_delay_minutes": 60 * 24 * 366, "reminder_days": 366, "max_reminders": 10,
                  "quarantine_days": 3660, "link_valid_days": 3660, "recurrence_days": 3660}


@dataclass
class Campaign:
    survey_id: int
    name: str
    delivery: str = "crm"
    status: str = "active"
    send_delay_minutes: int = 0
    reminder_days: int = 0
    max_reminders: int = 0
    quarantine_days: int = 0
    quarantine_scope: str = "campaign"
    link_valid_days: int = 0
    recurrence_days: int = 0
    templates: dict[str, str] = field(default_factory=dict)
    notify_emails: list[str] = field(default_factory=list)
    notify_on: str = "all"
    crm_push: bool = False
    crm_tag: str = ""
    webhooks: list[str] = field(default_factory=list)
    recurrence_list: str = ""
    last_recurrence_at: datetime | None = None
    dump_every: str = ""
    dump_at: str = "02:00"
    dump_format: str = "csv"
    dump_gzip: bool = False
    next_dump_at: datetime | None = None
    id: int | None = None
    account_id: int | None = None
    public_id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def validate(self) -> None:
        """Raise ValidationError when the settings contradict each other."""
        if not self.name.strip():
            raise ValidationError("name must not be empty.", field="name")
        choices = {"delivery": DELIVERY_MODES, "status": CAMPAIGN_STATUSES,
                   "quarantine_scope": QUARANTINE_SCOPES, "notify_on": NOTIFY_ON}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValidationError(
                    f"{name} '{getattr(self, name)}' is not one of {', '.join(allowed)}.",
                    field=name)
        for name, high in SETTING_LIMITS.items():
            value = getattr(self, name)
            if not 0 <= value <= high:
                raise ValidationError(f"{name} must be from 0 to {high}.", field=name)
        if self.max_reminders and not self.reminder_days:
            raise ValidationError("max_reminders needs reminder_days.", field="reminder_days")
        if self.dump_every not in DUMP_PERIODS:
            raise ValidationError("dump_every must be '', 'daily' or 'weekly'.", field="dump_every")
        if not _HHMM.match(self.dump_at):
            raise ValidationError("dump_at is a UTC time HH:MM, e.g. 02:00.", field="dump_at")
        if self.dump_format not in ("csv", "jsonl", "xml"):
            raise ValidationError("dump_format must be csv, jsonl or xml.", field="dump_format")
        if self.recurrence_days and not self.recurrence_list:
            raise ValidationError("recurrence_days needs recurrence_list: the list whose "
                                  "members are invited again.", field="recurrence_list")

    @property
    def reminder_limit(self) -> int:
        """How many reminders an invitation gets (one when only reminder_days is set)."""
        if self.delivery != "email" or not self.reminder_days:
            return 0
        return self.max_reminders or 1

    def next_reminder(self, after: datetime, reminders_sent: int) -> datetime | None:
        """When the next reminder is due after a send at ``after`` (None: no more)."""
        if reminders_sent >= self.reminder_limit:
            return None
        return after + timedelta(days=self.reminder_days)

    def link_expiry(self, now: datetime) -> datetime | None:
        """When a link created now stops working (None: never)."""
        return now + timedelta(days=self.link_valid_days) if self.link_valid_days else None


class Status:
    """The states of an invitation. Every list of states in the code is one of the
    named subsets below: adding a state means deciding which subsets it joins."""

    SCHEDULED = "scheduled"    # feedloop mails it at send_at
    SENT = "sent"              # mailed, or the link handed to a CRM that sends it
    OPENED = "opened"          # the respondent opened the link
    REMINDED = "reminded"      # a reminder went out
    RESPONDED = "responded"
    SUPPRESSED = "suppressed"  # not mailed: the contact unsubscribed meanwhile
    FAILED = "failed"          # the mail could not be delivered
    EXPIRED = "expired"        # never stored: an answerable invitation past its expiry
    CANCELLED = "cancelled"    # withdrawn by the caller (order returned, ticket reopened)

    STORED = (SCHEDULED, SENT, OPENED, REMINDED, RESPONDED, SUPPRESSED, FAILED, CANCELLED)
    #: The link can still be answered (until it expires).
    ANSWERABLE = (SCHEDULED, SENT, OPENED, REMINDED)
    #: Out with the respondent and not answered yet: reminders may follow.
    AWAITING_ANSWER = (SENT, OPENED, REMINDED)
    #: The first mail is still to be sent.
    UNSENT = (SCHEDULED,)


@dataclass(frozen=True)
class Transition:
    """A change of an invitation's state, applied only while it is in one of ``allowed``.

    ``values`` are the invitation's fields to set (status among them when it
    changes); ``event`` and ``detail`` go into the invitation's history.
    """

    allowed: tuple[str, ...]
    values: dict[str, object]
    event: str
    detail: str = ""


@dataclass
class Invitation:
    campaign_id: int
    contact_id: int
    nonce: bytes
    params: dict[str, str]
    status: str
    created_at: datetime
    expires_at: datetime | None = None
    event_id: str | None = None
    send_at: datetime | None = None
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    responded_at: datetime | None = None
    reminders_sent: int = 0
    attempts: int = 0
    #: The contact's attributes as they were at the trigger, the send's own ones included.
    attributes: dict[str, str] = field(default_factory=dict)
    id: int | None = None
    account_id: int | None = None

    def is_open(self, now: datetime) -> bool:
        """True while the invitation can still be answered."""
        return (self.status in Status.ANSWERABLE
                and (self.expires_at is None or now < self.expires_at))

    def effective_status(self, now: datetime) -> str:
        """The status as a caller should see it, expiry included."""
        if (self.status in Status.ANSWERABLE and self.expires_at is not None
                and now >= self.expires_at):
            return Status.EXPIRED
        return self.status

    def opened(self, now: datetime) -> Transition:
        """The respondent opened the link. A scheduled one stays scheduled: its mail is
        still due (the link was handed out early)."""
        values: dict[str, object] = {"opened_at": now}
        if self.status in (Status.SENT, Status.REMINDED):
            values["status"] = Status.OPENED
        return Transition(Status.ANSWERABLE, values, "opened")

    def responded(self, now: datetime) -> Transition:
        return Transition(Status.ANSWERABLE, {"status": Status.RESPONDED, "responded_at": now},
                          "responded")

    def mailed(self, now: datetime, next_reminder_at: datetime | None) -> Transition:
        """The invitation mail was accepted by the SMTP server."""
        return Transition(Status.UNSENT, {
            "status": Status.SENT, "sent_at": now, "attempts": 0, "next_attempt_at": None,
            "last_error": None, "next_reminder_at": next_reminder_at}, "sent", "email")

    def reminded(self, now: datetime, next_reminder_at: datetime | None) -> Transition:
        """Reminder number ``reminders_sent + 1`` was accepted by the SMTP server."""
        count = self.reminders_sent + 1
        return Transition(Status.AWAITING_ANSWER, {
            "status": Status.REMINDED, "reminders_sent": count, "last_reminder_at": now,
            "attempts": 0, "next_attempt_at": None, "last_error": None,
            "next_reminder_at": next_reminder_at}, "reminded", f"reminder {count} by email")

    def suppressed(self, reason: str) -> Transition:
        """Not mailed after all (the contact unsubscribed after the invitation was made)."""
        return Transition((self.status,), {"status": Status.SUPPRESSED,
                                           "next_reminder_at": None}, "suppressed", reason)

    def cancelled(self, reason: str) -> Transition:
        """Withdrawn before it was answered: no mail or reminder goes out, the link closes."""
        return Transition(Status.ANSWERABLE, {"status": Status.CANCELLED,
                                              "next_reminder_at": None,
                                              "next_attempt_at": None}, "cancelled", reason)

    def mail_failed(self, reminder: bool, attempts: int, error: str,
                    retry_at: datetime | None) -> Transition:
        """A send failed: retried at ``retry_at``, or given up when it is None (an
        invitation mail then fails the invitation; a reminder only stops the reminders)."""
        allowed = Status.AWAITING_ANSWER if reminder else Status.UNSENT
        values: dict[str, object] = {"attempts": attempts, "last_error": error[:500],
                                     "next_attempt_at": retry_at}
        if retry_at is None:
            values.update({"next_reminder_at": None} if reminder else {"status": Status.FAILED})
        event = "delivery_failed" if retry_at is not None else "delivery_dead"
        return Transition(allowed, values, event, f"attempt {attempts}: {error}"[:500])


def quarantine_end(last_invited_at: datetime | None, quarantine_days: int) -> datetime | None:
    """The moment a contact may be invited again, or None if it may be invited now."""
    if last_invited_at is None or quarantine_days <= 0:
        return None
    return last_invited_at + timedelta(days=quarantine_days)


def check_attributes(definitions: dict, attributes: dict[str, str]) -> dict[str, str]:
    """Attributes checked against their definitions (objects with ``kind`` and ``values``):
    an ordinal value must be one of its values."""
    for name, value in attributes.items():
        definition = definitions.get(name)
        if definition is not None and definition.kind == "ordinal" and value not in definition.values:
            raise ValidationError(f"'{value}' is not a value of the ordinal attribute '{name}' "
                                  f"({', '.join(definition.values)}).", field="attributes")
    return attributes


def clean_params(params: dict[str, str], where: str = "params") -> dict[str, str]:
    """Validate embedded parameters: short names, bounded values, no duplicates."""
    if len(params) > 50:
        raise ValidationError("At most 50 parameters.", field=where)
    for name, value in params.items():
        if _PARAM_NAME.fullmatch(name) is None:
            raise ValidationError(
                f"Parameter name '{name}' must be 1-64 letters, digits, '_', '-' or '.'.",
                field=where)
        if len(value) > 1000:
            raise ValidationError(f"Parameter '{name}' is longer than 1000 characters.",
                                  field=where)
    return dict(params)


def next_dump_time(every: str, at: str, after: datetime) -> datetime | None:
    """The first scheduled dump time strictly after ``after`` (UTC), or None without a schedule."""
    days = DUMP_PERIODS.get(every)
    if not days:
        return None
    hour, minute = map(int, at.split(":"))
    moment = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
    while moment <= after:
        moment += timedelta(days=1)
    if days == 7:
        # weekly dumps run on Mondays, the start of the ISO week
        moment += timedelta(days=(7 - moment.weekday()) % 7)
    return moment
