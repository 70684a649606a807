"""CRM contact push through the outbox, against a fake SALESmanago on 127.0.0.1."""
from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from service.domain.crm import slug
from service.domain.errors import ValidationError
from service.services import messages as m
from service.storage.tables import crm_connections
from service.worker import deliver_outbox
from tests.conftest import call

WORKER = "test-worker"
CZECH = "Jak jste spokojen(a) s naším servisem?"
GERMAN = "Würden Sie uns weiterempfehlen?"


class FakeSalesmanago:
    """Just enough of SALESmanago's contact upsert: sha check, create or update, tags."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict] = {"ABC-123": {"email": "known@example.com",
                                                      "properties": {}, "tags": []}}
        self.log: list[tuple[str, str]] = []          # (idempotency key, created/updated)
        self.script: list[str] = []  # "500", "slow", "html", "refuse" for the next requests
        # "slow" answers only once this is set (at the end of the test): long after the
        # client's timeout, however slow the machine is.
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                action = outer.script.pop(0) if outer.script else "ok"
                if action == "slow":
                    outer.released.wait(60)
                if action in ("500", "slow"):
                    self.send_response(500)
                    self.end_headers()
                    return
                reply = outer.upsert(body, self.headers["Idempotency-Key"], self.path) \
                    if action == "ok" else {"success": False, "message": ["limit"]}
                data = b"<html>busy</html>" if action == "html" else json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"

    def upsert(self, body: dict, key: str, path: str) -> dict:
        expected = hashlib.sha1(b"api-key" + b"client-1" + b"s3cret").hexdigest()
        if path != "/api/contact/upsert" or body["sha"] != expected or \
                body["owner"] != "owner@example.com":
            return {"success": False, "message": ["auth"]}
        contact_id = body.get("contactId") or next(
            (cid for cid, c in self.contacts.items() if c["email"] == body["contact"].get("email")),
            None)
        state = "updated" if contact_id in self.contacts else "created"
        contact = self.contacts.setdefault(contact_id or f"new-{len(self.contacts)}",
                                           {"email": body["contact"].get("email"),
                                            "properties": {}, "tags": []})
        contact["properties"].update(body["properties"])
        contact["tags"] = sorted(set(contact["tags"]) | set(body["tags"]))
        self.log.append((key, state))
        return {"success": True, "message": [], "contactId": contact_id}

    def by_email(self, email: str) -> dict:
        return next(c for c in self.contacts.values() if c["email"] == email)


@pytest.fixture
def crm(monkeypatch):
    monkeypatch.setattr("service.outbound.TIMEOUT", 0.5)
    fake = FakeSalesmanago()
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    yield fake
    fake.released.set()
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def survey_campaign(rt, admin, crm):
    call(rt, admin, "ConfigureCrmPush", connector="salesmanago", endpoint=crm.endpoint,
         client_id="client-1", api_key="api-key", api_secret="s3cret", owner="owner@example.com",
         field_prefix="dotaznik.")
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="cs", questions=[
        m.Question(key="nps", type="nps", text="Doporučil(a) byste nás?"),
        m.Question(key="spokojenost", type="single", text=CZECH, choices=["ano", "ne"]),
        m.Question(key="empfehlung", type="text", text=GERMAN),
        m.Question(key="mail", type="email", text="E-mail")]).survey_id
    return call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c", crm_push=True,
                crm_tag="SURVEY_2026").campaign_id


def respond(rt, admin, campaign_id, email, answers, params=()):
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=email)
    return call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
                answers=[m.Answer(k, v) for k, v in answers], params=list(params)).response_id


def test_field_names_are_slugs_of_the_question_text():
    assert slug(CZECH) == "jak-jste-spokojena-s-nasim-servisem"
    assert slug(GERMAN) == "wurden-sie-uns-weiterempfehlen"
    assert slug("Größe & Maß — 100 %") == "grosse-mass-100"


def test_contact_is_created_then_updated_with_fields_and_tag(rt, admin, survey_campaign, crm):
    respond(rt, admin, survey_campaign, "a@example.com",
            [("nps", "9"), ("spokojenost", "ano"), ("mail", "New.Person@example.com")])
    respond(rt, admin, survey_campaign, "b@example.com",
            [("nps", "4"), ("mail", "new.person@example.com")])
    assert deliver_outbox(rt, WORKER)["delivered"] == 2
    assert [state for _, state in crm.log] == ["created", "updated"]
    contact = crm.by_email("new.person@example.com")
    assert contact["properties"] == {
        "dotaznik.doporucila-byste-nas": "4",
        "dotaznik.jak-jste-spokojena-s-nasim-servisem": "ano",
        "dotaznik.nps-score": "4", "dotaznik.nps-category": "detractor"}
    assert contact["tags"] == ["SURVEY_2026"]


def test_client_id_from_the_link_updates_that_contact(rt, admin, crm, survey_campaign):
    survey_id = call(rt, admin, "CreateSurvey", title="t2", language="de", questions=[
        m.Question(key="nps", type="nps", text="Empfehlung?"),
        m.Question(key="warum", type="text", text=GERMAN)]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="d",
                       crm_push=True, crm_tag="DE").campaign_id
    respond(rt, admin, campaign_id, "someone@example.com", [("nps", "10"), ("warum", "x" * 300)],
            params=[m.Param("smclientid", "ABC-123")])
    deliver_outbox(rt, WORKER)
    contact = crm.contacts["ABC-123"]
    assert contact["email"] == "known@example.com"
    assert contact["properties"]["dotaznik.wurden-sie-uns-weiterempfehlen"] == "x" * 255
    [delivery] = call(rt, admin, "ListDeliveries").deliveries
    assert delivery.truncated == ["dotaznik.wurden-sie-uns-weiterempfehlen"]


def test_crm_outage_and_timeouts_then_every_response_lands_once(rt, admin, survey_campaign,
                                                                crm, clock):
    ids = [respond(rt, admin, survey_campaign, f"p{i}@example.com",
                   [("nps", "8"), ("mail", f"p{i}@example.com")]) for i in range(3)]
    crm.script = ["500", "slow", "500", "500", "slow"]
    for _ in range(6):
        deliver_outbox(rt, WORKER)
        clock.advance(hours=7)
    assert sorted(key for key, _ in crm.log) == sorted(f"crm_response_{i}" for i in ids)
    assert all(d.state == "delivered" for d in call(rt, admin, "ListDeliveries").deliveries)
    deliver_outbox(rt, WORKER)
    assert len(crm.log) == 3                      # nothing is sent again after a success


def test_a_refusal_or_an_answer_that_is_not_json_is_a_failed_attempt(rt, admin, survey_campaign,
                                                                      crm, clock):
    respond(rt, admin, survey_campaign, "p@example.com", [("nps", "8")])
    errors = []
    crm.script = ["html", "refuse"]
    for _ in range(2):
        deliver_outbox(rt, WORKER)
        [delivery] = call(rt, admin, "ListDeliveries").deliveries
        errors.append(delivery.last_error)
        clock.advance(hours=7)
    assert errors == ["SALESmanago answered something other than JSON",
                      "SALESmanago refused: ['limit']"]


@pytest.mark.parametrize("endpoint", ["https://169.254.169.254", "http://192.168.0.10:8080"])
def test_a_crm_endpoint_on_a_private_address_is_refused(rt, admin, endpoint):
    with pytest.raises(ValidationError) as refused:
        call(rt, admin, "ConfigureCrmPush", connector="generic", endpoint=endpoint,
             client_id="c", api_secret="s")
    assert refused.value.field == "endpoint" and "non-public" in refused.value.message


def test_the_secret_is_stored_encrypted_and_never_returned(rt, admin, survey_campaign, engine):
    info = call(rt, admin, "GetCrmPush")
    assert info.configured and info.connector == "salesmanago" and "s3cret" not in repr(info)
    with engine.connect() as connection:
        stored = connection.execute(select(crm_connections.c.secret_encrypted)).scalar_one()
    assert "s3cret" not in stored and stored.startswith("gAAAA")


def test_generic_connector_posts_a_signed_contact_upsert(rt, admin):
    from tests.integration.test_webhooks import Receiver
    receiver = Receiver()
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    try:
        secret = "whsec_" + __import__("base64").b64encode(b"generic-crm-secret-32-bytes!!!!!").decode()
        receiver.secret = secret
        call(rt, admin, "ConfigureCrmPush", connector="generic", endpoint=receiver.url,
             client_id="ours", api_secret=secret, field_prefix="fb_")
        survey_id = call(rt, admin, "CreateSurvey", title="t", language="en", questions=[
            m.Question(key="nps", type="nps", text="Recommend us?")]).survey_id
        campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="g",
                           crm_push=True, crm_tag="NPS").campaign_id
        respond(rt, admin, campaign_id, "g@example.com", [("nps", "7")])
        assert deliver_outbox(rt, WORKER)["delivered"] == 1
        [(message_id, payload)] = receiver.accepted.items()
        assert message_id.startswith("crm_response_")
        assert payload == {"event": "contact.upsert", "response_id": payload["response_id"],
                           "email": "g@example.com", "client_id": None,
                           "fields": {"fb_recommend-us": "7", "fb_nps-score": "7",
                                      "fb_nps-category": "passive"},
                           "tags": ["NPS"], "truncated": []}
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
