"""Signed webhooks through the outbox, against a real HTTP receiver on 127.0.0.1."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import event

from service.domain.destinations import Destinations
from service.domain.errors import ValidationError
from service.services import messages as m
from service.services.dumps import plan_dump, records
from service.services.outbox import MAX_ATTEMPTS, claim_outbox, record_delivered, record_failed
from service import worker
from service.outbound import OutboundError, post_signed
from service.worker import deliver_outbox
from tests.conftest import call

WORKER = "test-worker"


class Receiver:
    """A webhook receiver written from the documented scheme alone (Standard Webhooks)."""

    def __init__(self) -> None:
        self.secret = ""
        self.accepted: dict[str, dict] = {}   # webhook-id -> payload (repeats dropped)
        self.attempts = 0
        self.script: list[tuple[int, dict]] = []   # status and headers of the next answers
        self.refused: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                status, extra = outer.script.pop(0) if outer.script else (200, {})
                if status == 200 and not outer.verify(self.headers, body):
                    status = 401
                if status == 200:  # recorded before answering: the sender may look at once
                    outer.accepted.setdefault(self.headers["webhook-id"], json.loads(body))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/feedloop"

    def verify(self, headers, body: bytes, now: float | None = None) -> bool:
        message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
        if abs((now or time.time()) - int(timestamp)) > 5 * 60:
            self.refused.append("too old")
            return False
        key = base64.b64decode(self.secret.split("_", 1)[1])
        expected = base64.b64encode(hmac.new(key, f"{message_id}.{timestamp}.".encode() + body,
                                             hashlib.sha256).digest()).decode()
        given = [s.split(",", 1)[1] for s in headers["webhook-signature"].split()]
        if not any(hmac.compare_digest(expected, signature) for signature in given):
            self.refused.append("bad signature")
            return False
        return True


@pytest.fixture
def receiver():
    hook = Receiver()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def answered(rt, admin, receiver):
    receiver.secret = call(rt, admin, "RotateWebhookSecret", confirm=True).secret
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="de",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
                       webhooks=[receiver.url]).campaign_id

    def answer(email: str, score: int) -> int:
        link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=email,
                    crm_id="CRM-1", params=[m.Param("ticket", "T-1")])
        return call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
                    answers=[m.Answer("nps", str(score))]).response_id
    return answer


def test_response_is_delivered_signed_with_its_answers(rt, admin, answered, receiver, clock):
    response_id = answered("a@example.com", 3)
    assert deliver_outbox(rt, WORKER)["delivered"] == 1
    [(message_id, payload)] = receiver.accepted.items()
    assert message_id == f"msg_response_{response_id}_0"
    assert payload["type"] == "response.completed"
    data = payload["data"]
    assert (data["email"], data["crm_id"], data["nps_score"], data["nps_category"]) == (
        "a@example.com", "CRM-1", 3, "detractor")
    assert data["answers"] == {"nps": 3} and data["params"] == {"ticket": "T-1"}
    # the same record as a dump's, in the same timestamp format
    [dumped] = records(rt, plan_dump(rt, admin, data["campaign_id"]))
    assert data == {k: v for k, v in dumped.items() if k not in ("cursor", "attributes")}
    assert payload["timestamp"] == data["submitted_at"] == "2026-11-02T09:00:00Z"
    [delivery] = call(rt, admin, "ListDeliveries", state="delivered").deliveries
    assert delivery.idempotency_key == message_id and delivery.attempts == 1
    assert (delivery.kind, delivery.event, delivery.target, delivery.state) == (
        "webhook", "response.completed", receiver.url, "delivered")
    assert (delivery.created_at, delivery.delivered_at, delivery.next_attempt_at,
            delivery.last_error, delivery.truncated) == (clock.now, clock.now, None, None, [])


def test_receiver_refuses_a_tampered_body_and_an_old_timestamp(receiver):
    receiver.secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    from service.domain.webhooks import headers
    body = b'{"type":"response.completed"}'
    signed = headers(receiver.secret, "msg_1", int(time.time()), body)
    assert receiver.verify(signed, body)
    assert not receiver.verify(signed, body.replace(b"completed", b"deleted"))
    assert not receiver.verify(signed, body, now=time.time() + 301)
    assert receiver.refused == ["bad signature", "too old"]


def test_outage_is_retried_with_backoff_and_retry_after(rt, admin, answered, receiver, clock):
    answered("a@example.com", 9)
    receiver.script = [(500, {}), (503, {"Retry-After": "600"})]
    assert deliver_outbox(rt, WORKER)["delivery_retry"] == 1
    clock.advance(minutes=1, seconds=15)
    assert deliver_outbox(rt, WORKER)["delivery_retry"] == 1
    [pending] = call(rt, admin, "ListDeliveries", state="pending").deliveries
    assert pending.next_attempt_at >= clock.now + timedelta(seconds=600)
    assert pending.last_error == "HTTP 503"
    clock.advance(minutes=5)
    assert deliver_outbox(rt, WORKER)["delivered"] == 0   # the receiver asked for 10 minutes
    clock.advance(minutes=6)
    assert deliver_outbox(rt, WORKER)["delivered"] == 1
    assert len(receiver.accepted) == 1 and receiver.attempts == 3
    [delivered] = call(rt, admin, "ListDeliveries", state="delivered").deliveries
    assert (delivered.attempts, delivered.last_error) == (3, None)


def test_after_the_last_attempt_it_is_dead_and_can_be_retried(rt, admin, answered, receiver,
                                                              clock):
    answered("a@example.com", 9)
    receiver.script = [(500, {})] * MAX_ATTEMPTS
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        counts = deliver_outbox(rt, WORKER)
        outcomes.append((counts["delivery_retry"], counts["delivery_dead"]))
        clock.advance(hours=8)
    assert outcomes == [(1, 0)] * (MAX_ATTEMPTS - 1) + [(0, 1)]
    [dead] = call(rt, admin, "ListDeliveries", state="dead").deliveries
    assert dead.attempts == MAX_ATTEMPTS and receiver.accepted == {}
    assert dead.next_attempt_at is None and dead.last_error == "HTTP 500"
    call(rt, admin, "RetryDelivery", delivery_id=dead.delivery_id)
    assert deliver_outbox(rt, WORKER)["delivered"] == 1 and len(receiver.accepted) == 1


def test_a_failed_deliverys_error_is_kept_to_five_hundred_characters(rt, admin, answered):
    answered("a@example.com", 9)
    [job] = claim_outbox(rt, WORKER)
    assert record_failed(rt, WORKER, job, "x" * 600) == "retry"
    [pending] = call(rt, admin, "ListDeliveries", state="pending").deliveries
    assert pending.last_error == "x" * 500 and pending.attempts == 1


def test_a_worker_claims_fifty_deliveries_at_a_time_with_compact_utf8_bodies(rt, admin, clock):
    with rt.uow() as uow:
        uow.outbox.add_many(admin.account_id, [{
            "kind": "webhook", "event": "response.completed",
            "target": "https://crm.example.com/hook", "idempotency_key": f"msg_{index}",
            "payload": {"why": "Žádný", "scores": [9, 10]}} for index in range(51)], clock.now)
        uow.commit()
    first, rest = claim_outbox(rt, WORKER), claim_outbox(rt, WORKER)
    assert (len(first), len(rest)) == (50, 1)
    assert {(job.account_id, job.kind, job.attempts, job.body) for job in first + rest} == {
        (admin.account_id, "webhook", 0, '{"why":"Žádný","scores":[9,10]}'.encode())}


def test_a_worker_killed_mid_delivery_loses_nothing_and_is_taken_over_within_a_minute(
        rt, admin, answered, receiver, clock):
    answered("a@example.com", 10)
    assert len(claim_outbox(rt, "worker-that-dies")) == 1   # leased, never reported
    clock.advance(seconds=50)
    assert deliver_outbox(rt, WORKER)["delivered"] == 0      # still leased by the dead worker
    clock.advance(seconds=11)
    assert deliver_outbox(rt, WORKER)["delivered"] == 1 and len(receiver.accepted) == 1


def test_a_slow_worker_renews_the_lease_of_the_deliveries_it_still_has_to_make(
        rt, admin, answered, receiver, clock, monkeypatch):
    for number in range(3):
        answered(f"p{number}@example.com", 9)
    taken_over = []

    def slow_post(*args):
        clock.advance(seconds=40)                 # longer than the lease for the batch
        taken_over.extend(claim_outbox(rt, "another-worker"))
        return post_signed(*args)

    monkeypatch.setattr(worker, "post_signed", slow_post)
    assert deliver_outbox(rt, WORKER)["delivered"] == 3 and taken_over == []


@pytest.fixture
def finishing(engine):
    """How many outbox entries each 'delivered' statement recorded (its parameters)."""
    recorded: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE outbox SET state"):
            recorded.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    yield recorded
    event.remove(engine, "before_cursor_execute", watch)


def queue(rt, admin, clock, receiver, count: int) -> None:
    receiver.secret = call(rt, admin, "RotateWebhookSecret", confirm=True).secret
    with rt.uow() as uow:
        uow.outbox.add_many(admin.account_id, [{
            "kind": "webhook", "event": "response.completed", "target": receiver.url,
            "idempotency_key": f"msg_{index}", "payload": {"n": index}}
            for index in range(count)], clock.now)
        uow.commit()


def test_deliveries_to_a_fast_receiver_are_recorded_twenty_to_a_commit(
        rt, admin, receiver, clock, finishing):
    queue(rt, admin, clock, receiver, 45)
    assert deliver_outbox(rt, WORKER)["delivered"] == 45
    assert len(finishing) == 3                    # 20 + 20 + 5, not 45 commits
    delivered = call(rt, admin, "ListDeliveries", state="delivered", limit=100).deliveries
    assert len(delivered) == 45 and len(receiver.accepted) == receiver.attempts == 45
    assert {(d.attempts, d.delivered_at, d.last_error) for d in delivered} == {
        (1, clock.now, None)}
    assert call(rt, admin, "ListDeliveries", state="pending").deliveries == []


def test_deliveries_to_a_slow_receiver_are_recorded_once_the_oldest_waited_two_seconds(
        rt, admin, receiver, clock, finishing, monkeypatch):
    queue(rt, admin, clock, receiver, 3)
    states_seen = []

    def slow_post(*args):
        with rt.uow(read_only=True) as uow:
            states_seen.append(sorted(r.state for r in uow.outbox.list(admin.account_id,
                                                                      None, 10)))
        clock.advance(seconds=3)                  # each delivery takes three seconds
        return post_signed(*args)

    monkeypatch.setattr(worker, "post_signed", slow_post)
    assert deliver_outbox(rt, WORKER)["delivered"] == 3
    # the first waits while the second is made, then both are recorded before the third
    assert states_seen == [["pending"] * 3, ["pending"] * 3, ["delivered"] * 2 + ["pending"]]
    assert len(finishing) == 2


def test_a_worker_that_dies_before_recording_its_deliveries_has_them_made_again_once(
        rt, admin, receiver, clock, monkeypatch):
    queue(rt, admin, clock, receiver, 5)

    def killed(*args):
        raise SystemExit("killed before the commit")

    monkeypatch.setattr(worker, "record_delivered", killed)
    with pytest.raises(SystemExit):
        deliver_outbox(rt, "worker-that-dies")
    assert receiver.attempts == 5
    monkeypatch.undo()
    clock.advance(seconds=50)
    assert deliver_outbox(rt, WORKER)["delivered"] == 0      # still leased by the dead worker
    clock.advance(seconds=11)
    assert deliver_outbox(rt, WORKER)["delivered"] == 5
    # each delivered twice with its own webhook-id, so the receiver kept each once
    assert receiver.attempts == 10 and sorted(receiver.accepted) == [f"msg_{n}" for n in range(5)]
    delivered = call(rt, admin, "ListDeliveries", state="delivered").deliveries
    assert sorted(d.attempts for d in delivered) == [1] * 5


def test_a_delivery_another_worker_took_over_is_not_recorded_twice(rt, admin, receiver, clock):
    queue(rt, admin, clock, receiver, 2)
    jobs = claim_outbox(rt, "slow-worker")
    clock.advance(seconds=61)
    assert deliver_outbox(rt, WORKER)["delivered"] == 2
    assert record_delivered(rt, "slow-worker", jobs) == 0
    assert {d.attempts for d in call(rt, admin, "ListDeliveries",
                                     state="delivered").deliveries} == {1}


def test_webhooks_need_a_signing_secret_first(rt, admin):
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    with pytest.raises(ValidationError, match="RotateWebhookSecret"):
        call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
             webhooks=["https://crm.example.com/hook"])


def test_deliveries_command_lists_and_retries(rt, admin, answered, receiver, clock, capsys,
                                              monkeypatch, database_url):
    from service.cli import main
    answered("a@example.com", 9)
    receiver.script = [(500, {})] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS):
        deliver_outbox(rt, WORKER)
        clock.advance(hours=8)
    monkeypatch.setenv("FEEDLOOP_DATABASE_URL", database_url)
    monkeypatch.setenv("FEEDLOOP_SECRET_KEY", "k")
    assert main(["deliveries", "list", "--account", "acme", "--state", "dead"]) == 0
    listing = capsys.readouterr().out
    assert "dead" in listing and "(HTTP 500)" in listing and receiver.url in listing
    delivery_id = listing.splitlines()[1].split()[0]
    assert main(["deliveries", "retry", "--account", "acme", delivery_id]) == 0
    assert "queued again" in capsys.readouterr().out
    clock.now = datetime.now(timezone.utc) + timedelta(seconds=1)  # the command's real clock
    assert deliver_outbox(rt, WORKER)["delivered"] == 1



def test_invitation_sent_and_bounced_are_webhooks_too(rt, admin, receiver, clock):
    from service.domain.mail import Mail
    from service.mail import DeliveryError
    from service.worker import run_once
    receiver.secret = call(rt, admin, "RotateWebhookSecret", confirm=True).secret
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
                       delivery="email", webhooks=[receiver.url]).campaign_id
    rows = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        m.Respondent(email="ok@example.com"), m.Respondent(email="nobody@example.com")]).results

    class Sender:
        def send(self, mail: Mail) -> None:
            if mail.to.startswith("nobody"):
                raise DeliveryError("SMTP 550: no such user", temporary=False)

    run_once(rt, Sender(), WORKER)
    run_once(rt, Sender(), WORKER)   # the webhooks the first round queued
    events = {p["type"]: p["data"] for p in receiver.accepted.values()}
    assert events["invitation.sent"]["invitation_id"] == rows[0].invitation_id
    assert events["invitation.bounced"]["invitation_id"] == rows[1].invitation_id
    assert "550" in events["invitation.bounced"]["reason"]


@pytest.mark.parametrize("url", ["https://169.254.169.254/latest/meta-data", "http://10.0.0.5/h",
                                 "https://[::ffff:127.0.0.1]/h", "http://[fe80::1]/h",
                                 "http://93.184.216.34/hook", "http://crm.example.com/hook"])
def test_a_webhook_to_a_non_public_or_plain_http_address_is_refused_when_configured(rt, admin,
                                                                                   url):
    call(rt, admin, "RotateWebhookSecret", confirm=True)
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    with pytest.raises(ValidationError) as refused:
        call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c", webhooks=[url])
    assert refused.value.field == "webhooks" and url in refused.value.message


def test_a_webhook_url_is_at_most_2000_characters(rt, admin):
    call(rt, admin, "RotateWebhookSecret", confirm=True)
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    with pytest.raises(ValidationError, match="at most 2000") as refused:
        call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
             webhooks=["https://hooks.example.com/" + "a" * 2000])
    assert refused.value.field == "webhooks"


def response_with_webhook(rt, admin, receiver, url: str) -> None:
    """A campaign whose webhook is ``url``, and one response to it."""
    receiver.secret = call(rt, admin, "RotateWebhookSecret", confirm=True).secret
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
                       webhooks=[url]).campaign_id
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "9")])


def test_a_name_rebound_to_loopback_after_configuration_is_not_delivered_to(rt, admin, receiver):
    # hooks.test answers a public address when the campaign is made, loopback afterwards
    # (DNS rebinding); 127.0.0.1 is not allowed here.
    answers = iter([["93.184.216.34"]])
    rt.destinations = Destinations(resolver=lambda host, port: next(answers, ["127.0.0.1"]))
    response_with_webhook(rt, admin, receiver,
                          f"https://hooks.test:{receiver.server.server_port}/h")
    assert deliver_outbox(rt, WORKER)["delivery_retry"] == 1 and receiver.attempts == 0
    [pending] = call(rt, admin, "ListDeliveries", state="pending").deliveries
    assert "refused destination" in pending.last_error and "127.0.0.1" in pending.last_error


def test_delivery_goes_to_the_checked_address_under_the_configured_name(rt, admin, receiver):
    rt.destinations = Destinations(rt.destinations.allow, lambda host, port: ["127.0.0.1"])
    hosts = []
    handler = receiver.server.RequestHandlerClass
    handler.parse_request = lambda self, parse=handler.parse_request: (
        parse(self) and not hosts.append(self.headers["Host"]))
    response_with_webhook(rt, admin, receiver, f"http://hooks.test:{receiver.server.server_port}/h")
    assert deliver_outbox(rt, WORKER)["delivered"] == 1
    assert hosts == [f"hooks.test:{receiver.server.server_port}"]


def test_a_webhook_to_a_name_that_does_not_resolve_is_retried(rt, admin, receiver):
    def unknown(host, port):
        raise OSError("Name or service not known")
    rt.destinations = Destinations(resolver=unknown)
    response_with_webhook(rt, admin, receiver, "https://gone.test/h")
    assert deliver_outbox(rt, WORKER)["delivery_retry"] == 1
    [pending] = call(rt, admin, "ListDeliveries", state="pending").deliveries
    assert pending.last_error == "unreachable: gone.test does not resolve"


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(rt, admin, answered, receiver):
    followed = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            followed.append(self.command)
            self.send_response(200)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere) as elsewhere:
        threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
        receiver.script = [(303, {"Location": f"http://127.0.0.1:{elsewhere.server_port}/"})]
        answered("a@example.com", 9)
        assert deliver_outbox(rt, WORKER)["delivery_retry"] == 1
        elsewhere.shutdown()
    assert followed == [] and receiver.accepted == {}
    [pending] = call(rt, admin, "ListDeliveries", state="pending").deliveries
    assert pending.last_error == "HTTP 303"


def test_an_answer_that_stalls_is_closed_when_the_attempt_fails(rt, monkeypatch):
    """A receiver that promises 50 bytes, sends 5 and stalls: the attempt times out, and
    the answer (which holds the socket: the connection, told it closes after this answer,
    no longer tracks it) is closed then, not left to the garbage collector."""
    monkeypatch.setattr("service.outbound.TIMEOUT", 0.3)
    answers = []
    getresponse = http.client.HTTPConnection.getresponse
    monkeypatch.setattr(http.client.HTTPConnection, "getresponse",
                        lambda self: answers.append(getresponse(self)) or answers[-1])
    listener = socket.create_server(("127.0.0.1", 0))
    release = threading.Event()

    def answer_short() -> None:
        connection, _ = listener.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n"
                               b"Connection: close\r\n\r\nshort")
            release.wait(10)

    server = threading.Thread(target=answer_short, daemon=True)
    with listener:
        server.start()
        try:
            with pytest.raises(OutboundError, match="unreachable: timed out"):
                post_signed(f"http://127.0.0.1:{listener.getsockname()[1]}/h", b"{}", "m-1",
                            None, rt.destinations)
        finally:
            release.set()
            server.join(10)
    [answer] = answers
    assert answer.isclosed() and answer.fp is None
