"""Streamed dumps over HTTP against a real gunicorn, while responses keep arriving."""
from __future__ import annotations

import gzip
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.doors import XmlRpcDoor
from tests.support.conditions import Background

pytestmark = pytest.mark.e2e


@pytest.fixture
def campaign(live_server):
    """A campaign of its own for each test: no test reads what another one wrote."""
    door = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
    survey = door.call("CreateSurvey", title="exports", language="en",
                       questions=[{"key": "nps", "type": "nps", "text": "?"}])
    return door.call("CreateCampaign", survey_id=survey["survey_id"], name="exports")["campaign_id"]


def download(live_server, campaign_id, after, fmt="jsonl", key=None):
    return requests.get(f"{live_server.base_url}/exports/responses.{fmt}",
                        params={"campaign": campaign_id, "after": after},
                        auth=key or live_server.admin, timeout=60)


def test_successive_dumps_during_concurrent_writes_return_everything_once(live_server, campaign):
    door = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
    links = door.call("AddRespondents", campaign_id=campaign, respondents=[
        {"email": f"w{i}@example.com"} for i in range(120)])["results"]
    done = threading.Event()
    seen: list[int] = []

    def read_until_done():
        cursor = "0"
        while True:
            finished = done.is_set()
            answer = download(live_server, campaign, cursor)
            assert answer.status_code == 200
            lines = [json.loads(line) for line in answer.text.splitlines()]
            assert len(lines) == int(answer.headers["X-Feedloop-Rows"])
            seen.extend(line["response_id"] for line in lines)
            cursor = answer.headers["X-Feedloop-Cursor-To"]
            if finished and not lines:
                return

    def answer(link):
        writer = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
        return writer.call("RecordResponse", invitation_id=link["invitation_id"],
                           answers=[{"key": "nps", "value": "10"}])["response_id"]

    reader = Background(read_until_done)
    with ThreadPoolExecutor(4) as pool:
        written = list(pool.map(answer, links))
    done.set()
    reader.result(timeout=120)
    assert sorted(seen) == sorted(written) and len(seen) == len(set(seen)) == 120


def test_gzip_csv_download_and_its_headers(live_server, campaign):
    door = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
    links = door.call("AddRespondents", campaign_id=campaign, respondents=[
        {"email": f"gz{i}@example.com"} for i in range(3)])["results"]
    for link in links:
        door.call("RecordResponse", invitation_id=link["invitation_id"],
                  answers=[{"key": "nps", "value": "7"}])
    answer = download(live_server, campaign, "0", fmt="csv.gz")
    assert answer.headers["Content-Type"] == "application/gzip"
    assert "attachment" in answer.headers["Content-Disposition"]
    text = gzip.decompress(answer.content).decode()
    assert text.startswith("response_id,cursor,change,")
    assert answer.headers["X-Feedloop-Rows"] == "3" and text.count("\r\n") == 3 + 1


@pytest.mark.parametrize("key_kind, status", [("none", 401), ("trigger", 403)])
def test_exports_need_a_read_key(live_server, campaign, key_kind, status):
    key = None if key_kind == "none" else live_server.new_key("acme", "trigger")
    answer = requests.get(f"{live_server.base_url}/exports/responses.csv",
                          params={"campaign": campaign}, auth=key, timeout=30)
    assert answer.status_code == status and answer.json()["error"] in (
        "Unauthorized", "Forbidden")


def test_another_accounts_campaign_is_not_found(live_server, campaign):
    other = live_server.new_key("someone-else", "read")
    answer = download(live_server, campaign, "0", key=other)
    missing = download(live_server, 987654, "0", key=other)
    assert answer.status_code == missing.status_code == 404
    assert answer.json()["error"] == missing.json()["error"] == "UnknownCampaign"
