"""Request ids in responses, logs and fault references; /metrics and /readyz in-process."""
from __future__ import annotations

import io
import json
import logging
import re
import xmlrpc.client

import pytest
from webtest import TestApp

from service.config import Settings
from service.logs import JsonFormatter, RequestIdFilter
from service.storage.migrations import upgrade
from service.wsgi import create_app


@pytest.fixture
def json_log():
    """feedloop's log records as JSON lines, as FEEDLOOP_LOG_FORMAT=json writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("feedloop")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_an_internal_error_s_reference_is_the_request_id_in_header_and_json_log(web, monkeypatch,
                                                                              json_log):
    from service.services import surveys

    def explode(**fields):
        raise RuntimeError("boom")

    monkeypatch.setattr(surveys.m, "ListSurveysResult", explode)
    answer = web.post("/xmlrpc", xmlrpc.client.dumps(({},), "feedloop.list_surveys"),
                      content_type="text/xml", headers={"X-Request-Id": "crm-7f3a"})
    assert answer.headers["X-Request-Id"] == "crm-7f3a"
    assert "Internal error (reference crm-7f3a)." in answer.text
    [record] = [r for r in json_log() if r["level"] == "error"]
    assert record["request_id"] == "crm-7f3a" and "reference crm-7f3a" in record["message"]
    assert "RuntimeError: boom" in record["exception"]


def test_every_response_carries_a_fresh_request_id_unless_the_caller_sent_one(web):
    first = web.get("/healthz").headers["X-Request-Id"]
    second = web.get("/healthz").headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{12}", first) and first != second


@pytest.fixture
def metered(tmp_path, clock):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        base_url="http://127.0.0.1:8000", secret_key=b"k", smtp_url="",
                        data_dir=tmp_path, metrics_token="scrape-me")
    app = create_app(settings, clock=clock)
    yield app
    app.engine.dispose()


def test_metrics_are_off_without_a_token_configured(web):
    answer = web.get("/metrics", expect_errors=True)
    assert answer.status_int == 404 and "FEEDLOOP_METRICS_TOKEN" in answer.text


def test_readyz_is_unavailable_until_the_database_is_migrated(metered):
    client = TestApp(metered)
    answer = client.get("/readyz", expect_errors=True)
    assert answer.status_int == 503 and answer.json["revision"] is None
    upgrade(metered.engine, "0007")
    assert client.get("/readyz", expect_errors=True).json == {
        "status": "error", "database": "ok", "revision": "0007",
        "schema": "behind; this release expects 0012"}
    upgrade(metered.engine)
    assert client.get("/readyz").json == {"status": "ok", "database": "ok", "revision": "0012"}


def test_metrics_show_the_outbox_backlog_and_its_oldest_age(metered, clock):
    from service.services.keys import create_account_key
    from service.storage.tables import outbox
    upgrade(metered.engine)
    create_account_key(metered.runtime, "acme", ["admin"])
    with metered.engine.begin() as connection:
        connection.execute(outbox.insert(), [
            {"account_id": 1, "kind": "webhook", "event": "e", "target": "http://x", "payload": {},
             "idempotency_key": f"k{i}", "state": "pending", "next_attempt_at": clock(),
             "created_at": clock()} for i in range(3)])
    clock.advance(minutes=2)
    text = TestApp(metered).get("/metrics", headers={"Authorization": "Bearer scrape-me"}).text
    assert "feedloop_outbox_pending 3.0" in text
    assert "feedloop_outbox_oldest_pending_seconds 120.0" in text


def test_the_client_address_comes_from_x_real_ip_only_behind_a_trusted_proxy(tmp_path, clock):
    from service.services.keys import create_account_key
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        base_url="http://127.0.0.1:8000", secret_key=b"k", smtp_url="",
                        data_dir=tmp_path, trusted_proxies=frozenset({"10.0.0.2"}))
    app = create_app(settings, clock=clock)
    upgrade(app.engine)
    create_account_key(app.runtime, "acme", ["admin"])
    client = TestApp(app)
    client.authorization = ("Basic", ("fl_0000000000000000", "wrong"))
    body = xmlrpc.client.dumps(({},), "feedloop.list_surveys")

    def attempt(proxy: str, real_ip: str) -> str:
        answer = client.post("/xmlrpc", body, content_type="text/xml",
                             headers={"X-Real-IP": real_ip},
                             extra_environ={"REMOTE_ADDR": proxy})
        return answer.text

    for _ in range(10):  # one client behind the proxy gets itself blocked ...
        attempt("10.0.0.2", "203.0.113.7")
    assert "TooManyRequests" in attempt("10.0.0.2", "203.0.113.7")
    # ... and only itself: another client through the same proxy is not.
    assert "Unauthorized" in attempt("10.0.0.2", "198.51.100.9")
    # Anyone else's X-Real-IP is ignored: the address is the connection's own.
    for _ in range(10):
        attempt("192.0.2.50", f"198.51.100.{_}")
    assert "TooManyRequests" in attempt("192.0.2.50", "198.51.100.99")
    app.engine.dispose()
