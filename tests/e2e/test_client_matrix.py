"""The compatibility matrix: each client stack, configured the way its documentation says,
runs the whole flow against the real gunicorn, typed faults included.

zeep and PHP's SoapClient send Basic credentials with every request; suds (its
HttpAuthenticated transport) and urllib's HTTPBasicAuthHandler send them only
after the server's 401 challenge, so they prove the challenge on each door.
"""
from __future__ import annotations

import uuid

import pytest

from tests.e2e.doors import (MISSING, DoorFault, PhpDoor, SoapDoor, SudsDoor, XmlRpcDoor,
                             challenged_xmlrpc)

pytestmark = pytest.mark.e2e

CLIENTS = [
    pytest.param(SoapDoor.connect, id="zeep"),
    pytest.param(SudsDoor.connect, id="suds"),
    pytest.param(PhpDoor.connect, id="php-soapclient", marks=pytest.mark.php),
    pytest.param(XmlRpcDoor.connect, id="xmlrpc.client"),
    pytest.param(challenged_xmlrpc, id="urllib-challenged"),
]


def flow(door, tag: str) -> dict:
    """survey -> campaign -> tracking URL -> bulk add -> response -> contact results ->
    export pages -> metrics; what each step answered, without ids, links and times."""
    ana, bo = f"ana.{tag}@example.com", f"bo.{tag}@example.com"
    survey = door.call("CreateSurvey", title="Matrix", language="en", questions=[
        {"key": "nps", "type": "nps", "text": "How likely?", "required": True},
        {"key": "comment", "type": "text", "text": "Why?"}])
    campaign_id = door.call("CreateCampaign", survey_id=survey["survey_id"], name="Matrix",
                            quarantine_days=30)["campaign_id"]
    link = door.call("GetTrackingUrl", campaign_id=campaign_id, email=ana,
                     params=[{"name": "ticket", "value": "T-1"}])
    bulk = door.call("AddRespondents", campaign_id=campaign_id, respondents=[
        {"email": bo}, {"email": "not-an-email"}, {"email": ana}, {"email": bo}])
    for url, score in ((link["url"], "9"), (bulk["results"][0]["url"], "3")):
        door.call("RecordResponse", token=url.rsplit("/", 1)[1],
                  answers=[{"key": "nps", "value": score}, {"key": "comment", "value": "ok ✓"}])
    contact = door.call("GetContactResults", email=ana)["results"]
    pages, cursor = [], None
    while True:
        page = door.call("ExportResponses", campaign_id=campaign_id, after=cursor, limit=1)
        pages.append(len(page.get("records", [])))
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    metrics = door.call("GetCampaignMetrics", campaign_id=campaign_id)
    return {
        "verdicts": [(row["row"], row["status"]) for row in bulk["results"]],
        "scheduled": bulk["scheduled"],
        "contact": [(r["nps_score"], r["nps_category"]) for r in contact],
        "pages": pages,
        "metrics": {k: metrics[k] for k in ("invited", "responded", "promoters", "detractors",
                                            "nps")},
        "campaign_id": campaign_id,
    }


EXPECTED = {
    # a new contact, a malformed address, one quarantined by the tracking URL, a repeat
    "verdicts": [(0, "sent"), (1, "invalid"), (2, "suppressed"), (3, "suppressed")],
    "scheduled": 0,
    "contact": [(9, "promoter")],
    "pages": [1, 1],
    "metrics": {"invited": 2, "responded": 2, "promoters": 1, "detractors": 1, "nps": 0.0},
}


@pytest.mark.parametrize("connect", CLIENTS)
def test_each_client_runs_the_whole_flow_with_typed_faults(live_server, connect):
    door = connect(live_server.base_url, live_server.admin)
    seen = flow(door, uuid.uuid4().hex[:8])
    assert {k: v for k, v in seen.items() if k != "campaign_id"} == EXPECTED

    wrong = connect(live_server.base_url, (live_server.admin[0], "wrong-secret"))
    with pytest.raises(DoorFault) as refused:
        wrong.call("ListSurveys")
    assert (refused.value.code, refused.value.message) == ("Unauthorized",
                                                           "Invalid API key or secret.")

    with pytest.raises(DoorFault) as missing:
        door.call("GetTrackingUrl", campaign_id=MISSING, email="cy@example.com")
    assert missing.value.code == "ValidationError"
    if isinstance(door, XmlRpcDoor):
        assert missing.value.data == {"faultCode": -32602}
        assert missing.value.message == "'campaign_id' is required."
    else:
        assert missing.value.data == {"field": "campaign_id"}
        assert "{urn:feedloop:v1}campaign_id" in missing.value.message


def test_a_ws_security_username_token_needs_no_basic_header_and_no_challenge(live_server):
    import zeep
    from zeep.wsse.username import UsernameToken
    client = zeep.Client(f"{live_server.base_url}/soap?wsdl", wsse=UsernameToken(*live_server.admin))
    with client.transport.session:   # closed, not left to the garbage collector
        assert isinstance(client.service.ListSurveys(limit=1).total, int)
