"""GET /exports/responses.<format>[.gz] in process: the streamed dump, its headers and refusals.

tests/e2e/test_exports_http.py proves the same handler under gunicorn with concurrent writers.
"""
from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
from lxml import etree

from service.services import messages as m
from service.services.dumps import DUMP_NS
from service.services.keys import create_account_key
from tests.web.conftest import make_site


def respond(site, email: str, score: str) -> int:
    link = site.call("GetTrackingUrl", campaign_id=site.campaign_id, email=email)
    return site.call("RecordResponse", invitation_id=link.invitation_id,
                     answers=[m.Answer("nps", score)]).response_id


@pytest.fixture
def answered(app, key):
    """acme's campaign with three responses: the site and the response ids."""
    site = make_site(app, key, questions=[m.Question(key="nps", type="nps", text="?")])
    return site, [respond(site, f"p{score}@example.com", score) for score in ("9", "3", "7")]


def response_ids(fmt: str, body: bytes) -> list[int]:
    """The response ids of a dump, read as its consumer would."""
    if fmt == "csv":
        return [int(row["response_id"]) for row in csv.DictReader(io.StringIO(body.decode()))]
    if fmt == "jsonl":
        return [json.loads(line)["response_id"] for line in body.decode().splitlines()]
    return [int(e.get("id")) for e in etree.fromstring(body).iter(f"{{{DUMP_NS}}}response")]


@pytest.mark.parametrize("fmt, content_type", [("csv", "text/csv; charset=utf-8"),
                                               ("jsonl", "application/x-ndjson; charset=utf-8"),
                                               ("xml", "application/xml; charset=utf-8")])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_dump_streams_every_response_with_its_cursor_range(web, answered, fmt, content_type,
                                                            compressed):
    site, ids = answered
    suffix = ".gz" if compressed else ""
    answer = web.get(f"/exports/responses.{fmt}{suffix}", {"campaign": site.campaign_id})
    body = gzip.decompress(answer.body) if compressed else answer.body
    assert response_ids(fmt, body) == ids
    assert answer.headers["Content-Type"] == ("application/gzip" if compressed else content_type)
    assert answer.headers["X-Feedloop-Rows"] == "3"
    assert answer.headers["X-Feedloop-Cursor-From"] == "0"
    upto = answer.headers["X-Feedloop-Cursor-To"]
    assert answer.headers["Content-Disposition"] == \
        f'attachment; filename="responses-{site.campaign_id}-0-{upto}.{fmt}{suffix}"'
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_next_dump_after_the_cursor_holds_only_what_came_since(web, answered):
    site, _ = answered
    first = web.get("/exports/responses.jsonl", {"campaign": site.campaign_id})
    late = respond(site, "late@example.com", "10")
    after = first.headers["X-Feedloop-Cursor-To"]
    second = web.get("/exports/responses.jsonl", {"campaign": site.campaign_id, "after": after})
    assert response_ids("jsonl", second.body) == [late]
    assert second.headers["X-Feedloop-Cursor-From"] == after
    assert second.headers["X-Feedloop-Rows"] == "1"


def error_of(answer) -> tuple[int, str]:
    assert answer.content_type == "application/json"
    return answer.status_int, answer.json["error"]


def test_a_dump_without_credentials_asks_for_basic_authentication(web, answered):
    site, _ = answered
    web.authorization = None
    answer = web.get("/exports/responses.csv", {"campaign": site.campaign_id}, status=401)
    assert error_of(answer) == (401, "Unauthorized")
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="feedloop"'


def test_a_trigger_key_may_not_read_dumps(web, app, answered):
    site, _ = answered
    trigger = create_account_key(app.runtime, "acme", ["trigger"])
    web.authorization = ("Basic", (trigger.key_id, trigger.secret))
    answer = web.get("/exports/responses.csv", {"campaign": site.campaign_id}, status=403)
    assert error_of(answer) == (403, "Forbidden")
    assert "WWW-Authenticate" not in answer.headers


@pytest.mark.parametrize("query, status, code", [
    ({}, 400, "ValidationError"),
    ({"campaign": "twelve"}, 400, "ValidationError"),
    ({"campaign": "987654"}, 404, "UnknownCampaign"),
])
def test_a_dump_names_a_campaign_of_the_account(web, answered, query, status, code):
    answer = web.get("/exports/responses.jsonl", query, status=status)
    assert error_of(answer) == (status, code)


@pytest.mark.parametrize("method, path", [("GET", "/exports/responses.pdf"),
                                          ("GET", "/exports/"),
                                          ("POST", "/exports/responses.csv")])
def test_anything_but_a_get_of_a_known_format_is_not_found(web, method, path):
    answer = web.request(path, method=method, status=404)
    assert error_of(answer) == (404, "NotFound")
    assert "GET /exports/responses.csv|jsonl|xml[.gz]" in answer.json["message"]
