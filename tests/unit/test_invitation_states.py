"""Invitation states: the named subsets and the transitions of the domain."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from service.domain.distribution import Invitation, Status

NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)


def invitation(status: str, **fields) -> Invitation:
    return Invitation(campaign_id=1, contact_id=1, nonce=b"n", params={}, status=status,
                      created_at=NOW, **fields)


def test_every_named_subset_holds_stored_states_only():
    for subset in (Status.ANSWERABLE, Status.AWAITING_ANSWER, Status.UNSENT):
        assert set(subset) <= set(Status.STORED)
    assert Status.EXPIRED not in Status.STORED
    assert set(Status.AWAITING_ANSWER) | set(Status.UNSENT) == set(Status.ANSWERABLE)


@pytest.mark.parametrize("status, answerable", [
    (Status.SCHEDULED, True), (Status.SENT, True), (Status.OPENED, True),
    (Status.REMINDED, True), (Status.RESPONDED, False), (Status.SUPPRESSED, False),
    (Status.FAILED, False), (Status.CANCELLED, False)])
def test_only_answerable_states_are_open(status, answerable):
    assert invitation(status).is_open(NOW) is answerable


@pytest.mark.parametrize("status, becomes", [
    (Status.SENT, Status.OPENED), (Status.REMINDED, Status.OPENED), (Status.OPENED, None),
    (Status.SCHEDULED, None)])
def test_opening_a_link_marks_a_delivered_invitation_opened_and_keeps_a_scheduled_one(
        status, becomes):
    change = invitation(status).opened(NOW)
    assert change.values.get("status") == becomes
    assert change.values["opened_at"] == NOW
    assert change.allowed == Status.ANSWERABLE and change.event == "opened"


def test_a_response_is_accepted_only_from_an_answerable_state():
    change = invitation(Status.OPENED).responded(NOW)
    assert change.values == {"status": Status.RESPONDED, "responded_at": NOW}
    assert change.allowed == Status.ANSWERABLE


def test_cancelling_stops_the_mails_of_an_unanswered_invitation_only():
    change = invitation(Status.REMINDED).cancelled("order returned")
    assert change.allowed == Status.ANSWERABLE
    assert change.values == {"status": Status.CANCELLED, "next_reminder_at": None,
                             "next_attempt_at": None}
    assert (change.event, change.detail) == ("cancelled", "order returned")


def test_a_reminder_counts_and_schedules_the_next_one():
    later = NOW + timedelta(days=3)
    change = invitation(Status.SENT, reminders_sent=1).reminded(NOW, later)
    assert change.allowed == Status.AWAITING_ANSWER
    assert change.values["status"] == Status.REMINDED
    assert change.values["reminders_sent"] == 2 and change.values["next_reminder_at"] == later
    assert change.detail == "reminder 2 by email"


def test_the_first_mail_is_recorded_only_while_unsent():
    change = invitation(Status.SCHEDULED).mailed(NOW, None)
    assert change.allowed == Status.UNSENT
    assert change.values["status"] == Status.SENT and change.values["sent_at"] == NOW


def test_a_dead_invitation_mail_fails_the_invitation():
    change = invitation(Status.SCHEDULED).mail_failed(False, 8, "550 no such user", None)
    assert change.values["status"] == Status.FAILED and change.event == "delivery_dead"
    assert change.allowed == Status.UNSENT
    assert change.detail == "attempt 8: 550 no such user"


def test_a_dead_reminder_stops_the_reminders_but_keeps_the_link_answerable():
    change = invitation(Status.SENT).mail_failed(True, 8, "timeout", None)
    assert "status" not in change.values and change.values["next_reminder_at"] is None
    assert change.allowed == Status.AWAITING_ANSWER


def test_a_failed_send_that_will_be_retried_keeps_the_state():
    retry = NOW + timedelta(minutes=2)
    change = invitation(Status.SCHEDULED).mail_failed(False, 1, "421 busy", retry)
    assert "status" not in change.values and change.values["next_attempt_at"] == retry
    assert change.event == "delivery_failed"


def test_suppression_applies_to_the_state_the_invitation_was_claimed_in():
    change = invitation(Status.REMINDED).suppressed("unsubscribed")
    assert change.allowed == (Status.REMINDED,)
    assert change.values["status"] == Status.SUPPRESSED and change.detail == "unsubscribed"


def test_a_reminder_clears_the_retries_and_is_recorded_as_reminded():
    change = invitation(Status.OPENED, attempts=3).reminded(NOW, None)
    assert change.values == {"status": Status.REMINDED, "reminders_sent": 1,
                             "last_reminder_at": NOW, "attempts": 0, "next_attempt_at": None,
                             "last_error": None, "next_reminder_at": None}
    assert change.event == "reminded"


def test_a_suppression_ends_the_reminders_and_is_recorded_as_suppressed():
    change = invitation(Status.SCHEDULED).suppressed("unsubscribed")
    assert change.values == {"status": Status.SUPPRESSED, "next_reminder_at": None}
    assert change.event == "suppressed"


def test_a_long_mail_error_is_kept_to_five_hundred_characters():
    change = invitation(Status.SCHEDULED).mail_failed(False, 2, "x" * 600, NOW)
    assert change.values["last_error"] == "x" * 500
    assert change.detail == ("attempt 2: " + "x" * 600)[:500]


def test_a_mailed_invitation_is_sent_by_email_with_its_retries_cleared():
    later = NOW + timedelta(days=3)
    change = invitation(Status.SCHEDULED, attempts=2).mailed(NOW, later)
    assert change.values == {"status": Status.SENT, "sent_at": NOW, "attempts": 0,
                             "next_attempt_at": None, "last_error": None,
                             "next_reminder_at": later}
    assert (change.event, change.detail) == ("sent", "email")
