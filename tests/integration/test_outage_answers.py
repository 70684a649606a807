"""What each door answers while its database is unreachable or locked: SOAP 503 with
Retry-After, XML-RPC fault 5030 (on HTTP 200) with Retry-After, a 503 page for
respondents; never an internal error."""
from __future__ import annotations

import os
import sqlite3
import xmlrpc.client
from pathlib import Path

import pytest
from lxml import etree

from service.domain.credentials import Credentials
from service.domain.errors import XMLRPC_CODES
from service.services.keys import authenticate
from service.storage import engine as engine_module
from service.storage.outages import BUSY_RETRY_AFTER, DOWN_RETRY_AFTER
from tests.conftest import call, create_campaign
from tests.integration.test_doors_in_process import ENV, LIST_SURVEYS, envelope

pytestmark = pytest.mark.faults


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch):
    """SQLite's lock wait cut from 15 s to 0.1 s before the app makes its engine."""
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 100)


def database_file(app) -> Path:
    return Path(app.engine.url.database)


def take_database_away(app) -> None:
    """The database file replaced by a directory, pooled connections closed: nothing opens it."""
    app.engine.dispose()
    path = database_file(app)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.rename(f"{path}{suffix}", f"{path}{suffix}.away")
    path.mkdir()


def soap_outage(response) -> tuple[str, str]:
    assert response.status_int == 503, response.body[:300]
    fault = etree.fromstring(response.body).find(f".//{{{ENV}}}Fault")
    return fault.findtext("faultcode").split(":")[-1], response.headers["Retry-After"]


def rpc_outage(response) -> tuple[int, str]:
    assert response.status_int == 200, response.body[:300]
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(response.body)
    assert caught.value.faultString.startswith("Unavailable: ")
    return caught.value.faultCode, response.headers["Retry-After"]


LIST_SURVEYS_RPC = xmlrpc.client.dumps(({},), "feedloop.list_surveys")


@pytest.mark.parametrize("warm", [True, False], ids=["in the operation", "in authentication"])
def test_both_doors_answer_an_unreachable_database_as_unavailable(web, app, warm):
    if warm:  # the key is cached: the outage is met by the operation's own transaction
        web.post("/soap", LIST_SURVEYS, content_type="text/xml")
    take_database_away(app)
    code, retry = soap_outage(web.post("/soap", LIST_SURVEYS, content_type="text/xml",
                                       expect_errors=True))
    assert (code, retry) == ("Server.Unavailable", str(DOWN_RETRY_AFTER))
    number, retry = rpc_outage(web.post("/xmlrpc", LIST_SURVEYS_RPC, content_type="text/xml"))
    assert (number, retry) == (XMLRPC_CODES["Unavailable"], str(DOWN_RETRY_AFTER))


def test_a_write_that_waits_out_the_lock_is_unavailable_for_a_second_then_succeeds(web, app):
    define = envelope("<f:DefineAttribute><f:name>region</f:name><f:kind>text</f:kind>"
                      "</f:DefineAttribute>")
    web.post("/soap", LIST_SURVEYS, content_type="text/xml")
    holder = sqlite3.connect(database_file(app), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code, retry = soap_outage(web.post("/soap", define, content_type="text/xml",
                                           expect_errors=True))
        assert (code, retry) == ("Server.Unavailable", str(BUSY_RETRY_AFTER))
    finally:
        holder.close()
    assert web.post("/soap", define, content_type="text/xml").status_int == 200


def test_a_respondent_gets_a_friendly_page_with_retry_after_during_an_outage(app, key):
    from webtest import TestApp
    principal = authenticate(app.runtime, Credentials(*key))
    campaign_id = create_campaign(app.runtime, principal)
    link = call(app.runtime, principal, "GetTrackingUrl", campaign_id=campaign_id,
                email="ana@example.com").url.removeprefix(app.runtime.base_url)
    take_database_away(app)
    page = TestApp(app).get(link, status=503, headers={"Accept-Language": "de"})
    assert page.headers["Retry-After"] == str(DOWN_RETRY_AFTER)
    assert "Gleich wieder da" in page.text and "noch nichts gespeichert" in page.text


def test_a_json_endpoint_says_retry_after_during_an_outage(web, app):
    take_database_away(app)
    answer = web.get("/exports/responses.csv?campaign=1", status=503)
    assert answer.json["error"] == "Unavailable"
    assert answer.headers["Retry-After"] == str(DOWN_RETRY_AFTER)
