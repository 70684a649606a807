"""The worker against a real SMTP server (aiosmtpd on 127.0.0.1), on SQLite and PostgreSQL."""
from __future__ import annotations

import email
import email.policy
import functools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from service.mail import SmtpSender
from service.services.delivery import claim_mail
from service.services import messages as m
from service.services.runtime import utc_now
from service.storage.tables import contacts
from service.worker import deliver_outbox, run_once
from tests.conftest import call, create_campaign
from tests.support.ports import listening_socket, refused_port

WORKER = "test-worker"


class Inbox:
    """An aiosmtpd handler that keeps every message and can refuse the next N with a code."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refusals: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refusals:
                return self.refusals.pop(0)
            self.messages.append(email.message_from_bytes(envelope.content,
                                                          policy=email.policy.default))
        return "250 OK"

    def to(self) -> list[str]:
        return [message["To"] for message in self.messages]


class HeldSocketController(Controller):
    """aiosmtpd on a socket bound before it starts, so no other process takes the port."""

    def __init__(self, handler, sock) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1])
        self.sock = sock

    def _create_server(self):
        # aiosmtpd binds hostname:port itself; asyncio accepts a bound socket instead.
        return self.loop.create_server(self._factory_invoker, sock=self.sock)


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = HeldSocketController(handler, listening_socket())
    controller.start()
    handler.url = f"smtp://127.0.0.1:{controller.port}?from=surveys@feedloop.test"
    yield handler
    controller.stop()


@pytest.fixture
def sender(inbox):
    return SmtpSender(inbox.url)


@pytest.fixture
def email_campaign(new_campaign):
    """A factory of email campaigns of a German survey."""
    return functools.partial(new_campaign, title="Kundenumfrage", language="de",
                             delivery="email")


def invite(rt, admin, campaign_id, *emails, **fields):
    return call(rt, admin, "AddRespondents", campaign_id=campaign_id,
                respondents=[m.Respondent(email=e, **fields) for e in emails]).results


def test_invitation_is_mailed_once_its_delay_has_passed(rt, admin, clock, inbox, sender,
                                                        email_campaign):
    campaign_id = email_campaign(send_delay_minutes=30,
                                 invitation_text="Hallo {{attr.name}}, bitte hier: {{url}}")
    [row] = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        m.Respondent(email="ana@example.com", attributes=[m.Attribute("name", "Ana")])]).results
    assert row.status == "scheduled"
    assert run_once(rt, sender, WORKER)["sent"] == 0 and inbox.messages == []
    clock.advance(minutes=30)
    assert run_once(rt, sender, WORKER)["sent"] == 1
    [message] = inbox.messages
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Kundenumfrage: Ihre Meinung ist uns wichtig"
    body = message.get_body(("plain",)).get_content()
    assert f"Hallo Ana, bitte hier: {row.url}" in body
    token = row.url.rsplit("/", 1)[1]
    assert message["List-Unsubscribe"].strip() == f"<http://feedloop.test/u/{token}>"
    assert f"http://feedloop.test/u/{token}" in body
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    info = call(rt, admin, "GetInvitation", invitation_id=row.invitation_id)
    assert (info.status, info.sent_at) == ("sent", clock.now)
    assert run_once(rt, sender, WORKER)["sent"] == 0 and len(inbox.messages) == 1


def test_reminders_follow_the_schedule_and_stop_at_a_response(rt, admin, clock, inbox, sender,
                                                              email_campaign):
    campaign_id = email_campaign(reminder_days=3, max_reminders=2)
    first, second = invite(rt, admin, campaign_id, "a@example.com", "b@example.com")
    run_once(rt, sender, WORKER)
    clock.advance(days=3)
    assert run_once(rt, sender, WORKER)["sent"] == 2
    assert [msg["Subject"] for msg in inbox.messages[2:]] == ["Erinnerung: Kundenumfrage"] * 2
    call(rt, admin, "RecordResponse", invitation_id=first.invitation_id,
         answers=[m.Answer("nps", "9")])
    clock.advance(days=3)
    assert run_once(rt, sender, WORKER)["sent"] == 1 and inbox.to()[-1] == "b@example.com"
    clock.advance(days=3)
    assert run_once(rt, sender, WORKER)["sent"] == 0
    info = call(rt, admin, "GetInvitation", invitation_id=second.invitation_id)
    assert (info.status, info.reminders_sent) == ("reminded", 2)


def test_unsubscribed_contact_is_not_mailed(rt, admin, clock, inbox, sender, engine,
                                            email_campaign):
    campaign_id = email_campaign()
    [row] = invite(rt, admin, campaign_id, "gone@example.com")
    with engine.begin() as connection:
        connection.execute(update(contacts).values(unsubscribed_at=clock.now))
    run_once(rt, sender, WORKER)
    assert inbox.messages == []
    assert call(rt, admin, "GetInvitation", invitation_id=row.invitation_id).status == "suppressed"


def test_smtp_outage_is_retried_with_backoff_until_delivered(rt, admin, clock, inbox, sender,
                                                             email_campaign):
    campaign_id = email_campaign()
    [row] = invite(rt, admin, campaign_id, "a@example.com")
    inbox.refusals = ["451 4.3.0 try again later"] * 2
    assert run_once(rt, sender, WORKER)["retry"] == 1
    assert run_once(rt, sender, WORKER) == {"recurrences": 0, "dumps": 0, "sent": 0, "retry": 0,
                                            "dead": 0, "delivered": 0, "delivery_retry": 0,
                                            "delivery_dead": 0, "purged": 0}
    clock.advance(minutes=1, seconds=15)   # first retry after 1 min (+-20%)
    assert run_once(rt, sender, WORKER)["retry"] == 1
    clock.advance(minutes=2, seconds=30)   # second after 2 min (+-20%)
    assert run_once(rt, sender, WORKER)["sent"] == 1
    history = call(rt, admin, "GetInvitation", invitation_id=row.invitation_id).history
    assert [h.event for h in history] == ["created", "delivery_failed", "delivery_failed", "sent"]
    assert "451" in history[1].detail


def test_a_mail_sent_again_after_a_worker_died_carries_the_same_message_id(
        rt, admin, clock, inbox, sender, email_campaign):
    campaign_id = email_campaign(reminder_days=3, max_reminders=1)
    invite(rt, admin, campaign_id, "a@example.com")
    [job] = claim_mail(rt, "worker-that-dies")
    sender.send(job.mail)                       # sent, then killed before recording it
    clock.advance(seconds=50)
    assert run_once(rt, sender, WORKER)["sent"] == 0   # still leased by the dead worker
    clock.advance(seconds=11)
    assert run_once(rt, sender, WORKER)["sent"] == 1   # taken over within about a minute
    clock.advance(days=3)
    assert run_once(rt, sender, WORKER)["sent"] == 1   # the reminder: another mail
    first, again, reminder = (message["Message-ID"] for message in inbox.messages)
    assert first == again and first.endswith("@feedloop.test>") and reminder != first


def test_a_slow_worker_renews_the_lease_of_the_mails_it_still_has_to_send(
        rt, admin, clock, inbox, email_campaign):
    campaign_id = email_campaign()
    invite(rt, admin, campaign_id, *(f"p{i}@example.com" for i in range(4)))
    taken_over = []

    class SlowSender:
        def send(self, mail) -> None:
            clock.advance(seconds=40)             # longer than the lease for the batch
            taken_over.extend(claim_mail(rt, "another-worker"))

    assert run_once(rt, SlowSender(), WORKER)["sent"] == 4 and taken_over == []


def test_permanent_refusal_is_a_visible_dead_state(rt, admin, inbox, sender, email_campaign):
    campaign_id = email_campaign()
    [row] = invite(rt, admin, campaign_id, "nobody@example.com")
    inbox.refusals = ["550 5.1.1 no such user"]
    assert run_once(rt, sender, WORKER)["dead"] == 1
    info = call(rt, admin, "GetInvitation", invitation_id=row.invitation_id)
    assert info.status == "failed" and "550" in info.history[-1].detail


def test_unreachable_smtp_server_is_retried_not_dropped(rt, admin, clock, email_campaign):
    campaign_id = email_campaign()
    invite(rt, admin, campaign_id, "a@example.com")
    with refused_port() as port:
        down = SmtpSender(f"smtp://127.0.0.1:{port}")
        assert run_once(rt, down, WORKER)["retry"] == 1


def test_recurrence_invites_the_list_again_each_period(rt, admin, clock, inbox, sender,
                                                       email_campaign):
    call(rt, admin, "SyncList", list_name="customers", mode="add",
         contacts=[m.ContactRow(email=f"c{i}@example.com") for i in range(3)])
    email_campaign(recurrence_days=90, recurrence_list="customers", quarantine_days=30)
    assert run_once(rt, sender, WORKER)["recurrences"] == 3
    assert sorted(inbox.to()) == [f"c{i}@example.com" for i in range(3)]
    clock.advance(days=1)
    assert run_once(rt, sender, WORKER)["recurrences"] == 0
    clock.advance(days=89)
    assert run_once(rt, sender, WORKER)["recurrences"] == 3 and len(inbox.messages) == 6


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_two_worker_processes_send_every_invitation_exactly_once(database_url, rt, admin, inbox,
                                                                  tmp_path):
    rt.clock = utc_now  # the worker processes read the real clock
    campaign_id = create_campaign(rt, admin, delivery="email")
    invite(rt, admin, campaign_id, *[f"p{i}@example.com" for i in range(200)])
    env = {**os.environ, "FEEDLOOP_DATABASE_URL": database_url,
           "FEEDLOOP_SECRET_KEY": rt.secret_key.decode(),
           "FEEDLOOP_SMTP_URL": inbox.url, "FEEDLOOP_BASE_URL": "http://feedloop.test"}
    feedloop = str(Path(sys.executable).with_name("feedloop"))
    workers = [subprocess.Popen([feedloop, "worker", "--once"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(2)]
    outputs = [w.communicate(timeout=120)[0].decode() for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    assert sorted(inbox.to()) == sorted(f"p{i}@example.com" for i in range(200))


def detractor_answered(rt, admin) -> int:
    """A campaign that notifies two people of detractors, with one detractor and one promoter."""
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en", questions=[
        m.Question(key="nps", type="nps", text="Would you recommend us?"),
        m.Question(key="why", type="text", text="Why?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="Support",
                       notify_emails=["team@example.com", "Lead@example.com"],
                       notify_on="detractors").campaign_id
    for address, score in (("happy@example.com", "10"), ("angry@example.com", "2")):
        link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=address,
                    crm_id="C-9")
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", score), m.Answer("why", "Too slow")])
    return campaign_id


def test_detractors_are_notified_to_the_campaigns_people(rt, admin, inbox, sender):
    campaign_id = detractor_answered(rt, admin)
    counts = run_once(rt, sender, WORKER)
    assert counts["delivered"] == 2
    assert sorted(inbox.to()) == ["lead@example.com", "team@example.com"]
    message = inbox.messages[0]
    assert message["Subject"] == "[Support] NPS 2 (detractor) from angry@example.com"
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "(CRM id C-9)" in body and "Why?\n  Too slow" in body
    assert f"http://feedloop.test/dashboard/{campaign_id}" in body


def test_one_notification_per_person_is_queued_for_a_detractor_only(rt, admin):
    campaign_id = detractor_answered(rt, admin)
    [response] = [r for r in call(rt, admin, "ExportResponses", campaign_id=campaign_id).records
                  if r.email == "angry@example.com"]
    deliveries = call(rt, admin, "ListDeliveries").deliveries
    assert sorted((d.kind, d.event, d.target, d.idempotency_key) for d in deliveries) == [
        ("notification", "response.completed", "lead@example.com",
         f"notify_response_{response.response_id}_1"),
        ("notification", "response.completed", "team@example.com",
         f"notify_response_{response.response_id}_0")]


def test_every_response_is_notified_when_the_campaign_asks_for_all(rt, admin):
    campaign_id = create_campaign(rt, admin, notify_emails=["team@example.com"], notify_on="all")
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="happy@example.com")
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "10")])
    assert [d.target for d in call(rt, admin, "ListDeliveries").deliveries] == ["team@example.com"]


def test_erasing_a_detractor_stops_the_notifications_about_them(rt, admin, sender, inbox):
    detractor_answered(rt, admin)
    call(rt, admin, "EraseContact", email="angry@example.com")
    assert run_once(rt, sender, WORKER)["delivered"] == 0 and inbox.messages == []
    assert last_errors(rt, admin) == ["not sent: the contact was erased"] * 2


def test_the_running_worker_logs_one_line_per_round_with_its_counts(rt, tmp_path, caplog):
    import logging

    from service.mail import LogSender
    from service.worker import run_forever
    checks = []

    def stop_after_one_round() -> bool:
        checks.append(True)
        return len(checks) > 1

    with caplog.at_level(logging.INFO, logger="feedloop.worker"):
        run_forever(rt, LogSender(tmp_path / "mail.log"), 0.01, stop_after_one_round)
    rounds = [r.getMessage() for r in caplog.records if r.getMessage().startswith("round ")]
    assert rounds == ["round recurrences=0 dumps=0 sent=0 retry=0 dead=0 delivered=0 "
                      "delivery_retry=0 delivery_dead=0 purged=0"]


def last_errors(rt, admin) -> list[str]:
    return [d.last_error for d in call(rt, admin, "ListDeliveries").deliveries]


def test_a_notification_waits_for_a_worker_that_can_send_mail(rt, admin, clock, inbox, sender):
    detractor_answered(rt, admin)
    assert deliver_outbox(rt, WORKER)["delivery_retry"] == 2
    assert last_errors(rt, admin) == ["no mail sender in this worker"] * 2 and inbox.messages == []
    clock.advance(hours=1)
    assert run_once(rt, sender, WORKER)["delivered"] == 2 and len(inbox.messages) == 2


def test_a_refused_notification_is_retried_with_the_servers_answer(rt, admin, clock, inbox,
                                                                    sender):
    detractor_answered(rt, admin)
    inbox.refusals = ["451 4.3.0 try again later"] * 2
    assert run_once(rt, sender, WORKER)["delivery_retry"] == 2
    assert all("451" in error for error in last_errors(rt, admin))
    clock.advance(hours=1)
    assert run_once(rt, sender, WORKER)["delivered"] == 2
    assert sorted(inbox.to()) == ["lead@example.com", "team@example.com"]
