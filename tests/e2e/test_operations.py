"""What an operator watches on a real gunicorn with 2 workers: /metrics, /readyz, request ids."""
from __future__ import annotations

import base64
import signal
import subprocess
import time
import urllib.error
import urllib.request
import xmlrpc.client

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import FEEDLOOP, METRICS_TOKEN
from tests.e2e.doors import DoorFault, SoapDoor, XmlRpcDoor
from tests.support.conditions import wait_until
from tests.support.revisions import LATEST

pytestmark = pytest.mark.e2e


def get(url: str, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        with error:   # an HTTPError holds the answer open until closed
            return error.code, dict(error.headers), error.read().decode()


def scrape(live_server) -> dict[tuple[str, frozenset], float]:
    status, headers, text = get(live_server.base_url + "/metrics",
                                {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_add_up_every_workers_calls_latencies_and_faults(live_server):
    before = scrape(live_server)
    soap = SoapDoor.connect(live_server.base_url, live_server.admin)
    rpc = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
    for _ in range(4):
        soap.call("ListSurveys")
    for _ in range(6):
        rpc.call("ListSurveys")
    with pytest.raises(DoorFault):
        rpc.call("GetSurvey", survey_id=987654)
    with pytest.raises(xmlrpc.client.Fault):
        XmlRpcDoor.connect(live_server.base_url, ("fl_0000000000000000", "x" * 43)) \
            .proxy.feedloop.list_surveys({})
    after = scrape(live_server)
    assert delta(before, after, "feedloop_calls_total", door="soap", operation="ListSurveys",
                 outcome="ok") == 4
    assert delta(before, after, "feedloop_calls_total", door="xmlrpc", operation="ListSurveys",
                 outcome="ok") == 6
    assert delta(before, after, "feedloop_calls_total", door="xmlrpc", operation="ListSurveys",
                 outcome="Unauthorized") == 1
    assert delta(before, after, "feedloop_call_seconds_count", door="xmlrpc",
                 operation="ListSurveys") == 7
    assert delta(before, after, "feedloop_faults_total", door="xmlrpc", code="NotFound") == 1
    assert delta(before, after, "feedloop_faults_total", door="xmlrpc", code="Unauthorized") == 1
    assert delta(before, after, "feedloop_http_requests_total", route="/xmlrpc",
                 status="200") == 8
    for gauge in ("feedloop_outbox_pending", "feedloop_outbox_oldest_pending_seconds",
                  "feedloop_invitations_due"):
        assert (gauge, frozenset()) in after


def test_metrics_are_refused_without_the_operators_token(live_server):
    assert get(live_server.base_url + "/metrics")[0] == 401
    status, headers, _ = get(live_server.base_url + "/metrics",
                             {"Authorization": "Bearer " + "wrong"})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    key_id, secret = live_server.admin  # an account's key is not the operator's token
    basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    assert get(live_server.base_url + "/metrics", {"Authorization": f"Basic {basic}"})[0] == 401


def test_readyz_says_the_database_is_at_this_releases_revision(live_server):
    status, _, body = get(live_server.base_url + "/readyz")
    assert status == 200
    assert body == f'{{"status": "ok", "database": "ok", "revision": "{LATEST}"}}\n'


def test_a_callers_request_id_comes_back_and_goes_into_the_access_log(live_server):
    status, headers, _ = get(live_server.base_url + "/healthz", {"X-Request-Id": "crm-run-42"})
    assert status == 200 and headers["X-Request-Id"] == "crm-run-42"
    # gunicorn writes the access line after the answer has gone out
    wait_until(lambda: "crm-run-42" in live_server.log(), 10, "the access line")
    _, headers, _ = get(live_server.base_url + "/healthz", {"X-Request-Id": "bad id\u00e9"})
    assert len(headers["X-Request-Id"]) == 12 and headers["X-Request-Id"] != "bad id"


def test_the_running_worker_serves_its_round_counts_to_prometheus(live_server):
    worker = subprocess.Popen([FEEDLOOP, "worker", "--interval", "0.2", "--metrics-bind",
                               "127.0.0.1:0"], env=live_server.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        announced = ""
        while "worker metrics on" not in announced:
            line = worker.stderr.readline()
            assert line, "the worker exited before serving its metrics"
            announced = line
        port = int(announced.rsplit(":", 1)[1].split("/")[0])
        deadline, rounds = time.monotonic() + 30, 0.0
        while rounds < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                text = get(f"http://127.0.0.1:{port}/metrics")[2]
            except OSError:
                continue
            rounds = sum(s.value for f in text_string_to_metric_families(text)
                         for s in f.samples if s.name == "feedloop_worker_rounds_total"
                         and s.labels == {"outcome": "ok"})
        assert rounds >= 2
    finally:
        worker.send_signal(signal.SIGTERM)
        _, log = worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert " round recurrences=0 dumps=0 sent=0" in log
