"""The whole scenario through SOAP (zeep) and XML-RPC (xmlrpc.client) against a real gunicorn."""
from __future__ import annotations

import re
import xmlrpc.client

import pytest

from tests.e2e.doors import DoorFault, SoapDoor, XmlRpcDoor
from tests.support.conditions import wait_until

pytestmark = pytest.mark.e2e

DOORS = {"soap": SoapDoor.connect, "xmlrpc": XmlRpcDoor.connect}
QUESTIONS = [
    {"key": "nps", "type": "nps", "text": "How likely are you to recommend us?", "required": True},
    {"key": "speed", "type": "rating", "text": "How fast was the answer?", "min": 1, "max": 5},
    {"key": "topic", "type": "single", "text": "What was it about?",
     "choices": ["billing", "delivery", "other"]},
    {"key": "comment", "type": "text", "text": "Anything else?"},
]
# Ids, links, cursors and times differ between runs; everything else must be identical.
_VARIABLE = re.compile(r"(_id|url|cursor|_at)$")


def scenario(door, email: str) -> list:
    """survey -> campaign -> tracking URL -> response -> contact results -> export pages."""
    seen = []
    survey = door.call("CreateSurvey", title="Support follow-up", language="en",
                       questions=QUESTIONS)
    seen.append(door.call("GetSurvey", survey_id=survey["survey_id"]))
    campaign = door.call("CreateCampaign", survey_id=survey["survey_id"], name="Tickets",
                         link_valid_days=14, quarantine_days=30)
    seen.append(door.call("GetCampaign", campaign_id=campaign["campaign_id"]))
    links = []
    for index, score in enumerate([10, 6, 8]):
        link = door.call("GetTrackingUrl", campaign_id=campaign["campaign_id"],
                         email=f"{index}.{email}", crm_id=f"CRM-{index}",
                         params=[{"name": "ticket", "value": f"T-{index}"}],
                         event_id=f"close-{index}")
        again = door.call("GetTrackingUrl", campaign_id=campaign["campaign_id"],
                          email=f"{index}.{email}", event_id=f"close-{index}")
        assert again == link and re.fullmatch(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{54}",
                                              link["url"])
        links.append(link)
        seen.append(link)
        door.call("RecordResponse", token=link["url"].rsplit("/", 1)[1],
                  answers=[{"key": "nps", "value": str(score)},
                           {"key": "topic", "value": "billing"},
                           {"key": "comment", "value": f"score {score} ✓"}],
                  params=[{"name": "channel", "value": "email"}])
    seen.append(door.call("GetContactResults", email=f"1.{email}"))
    seen.append(door.call("GetContactResults", crm_id="CRM-2",
                          campaign_id=campaign["campaign_id"]))
    records, cursor = [], None
    while True:
        page = door.call("ExportResponses", campaign_id=campaign["campaign_id"], after=cursor,
                         limit=2)
        records += page.get("records", [])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [r["invitation_id"] for r in records] == [link["invitation_id"] for link in links]
    assert "records" not in door.call("ExportResponses", campaign_id=campaign["campaign_id"],
                                      after=cursor)
    seen.append(records)
    with pytest.raises(DoorFault) as quarantined:
        door.call("GetTrackingUrl", campaign_id=campaign["campaign_id"], email=f"0.{email}",
                  params=[{"name": "ticket", "value": "T-99"}])
    message = re.sub(r"\d{4}-\d\d-\d\d[T ][\d:]+Z?", "<time>", quarantined.value.message)
    seen.append((quarantined.value.code, re.sub(r"campaign \d+", "campaign N", message)))
    return seen


def comparable(value):
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if not _VARIABLE.search(k)}
    if isinstance(value, (list, tuple)):
        return [comparable(v) for v in value]
    return value


def test_both_doors_give_identical_results(live_server):
    results = {name: scenario(connect(live_server.base_url, live_server.admin), f"{name}@example.com")
               for name, connect in DOORS.items()}
    soap, rpc = (comparable(results[name]) for name in ("soap", "xmlrpc"))
    assert len(soap) == len(rpc)
    for step, (by_soap, by_rpc) in enumerate(zip(soap, rpc)):
        # the emails differ by design (each door uses its own contacts)
        assert repr(by_soap).replace("soap@", "X@") == repr(by_rpc).replace("xmlrpc@", "X@"), step
    contact = results["soap"][-4]
    assert contact["results"][0]["nps_score"] == 6
    assert contact["results"][0]["nps_category"] == "detractor"
    assert results["soap"][-2][0]["answers"][-1] == {"key": "comment", "value": "score 10 ✓"}
    assert results["soap"][-1][0] == "Quarantined"


@pytest.mark.parametrize("door", DOORS)
def test_wrong_key_is_unauthorized(live_server, door):
    client = DOORS[door](live_server.base_url, (live_server.admin[0], "wrong-secret"))
    with pytest.raises(DoorFault) as caught:
        client.call("ListSurveys")
    assert (caught.value.code, caught.value.message) == ("Unauthorized",
                                                         "Invalid API key or secret.")


@pytest.mark.parametrize("door", DOORS)
def test_another_accounts_ids_are_not_found(live_server, door):
    mine = DOORS[door](live_server.base_url, live_server.admin)
    survey = mine.call("CreateSurvey", title="Private", language="de", questions=QUESTIONS[:1])
    campaign = mine.call("CreateCampaign", survey_id=survey["survey_id"], name="Private")
    theirs = DOORS[door](live_server.base_url, live_server.new_key(f"other-{door}", "admin"))
    with pytest.raises(DoorFault) as caught:
        theirs.call("GetSurvey", survey_id=survey["survey_id"])
    assert caught.value.code == "NotFound"
    with pytest.raises(DoorFault) as by_other:
        theirs.call("GetCampaign", campaign_id=campaign["campaign_id"])
    with pytest.raises(DoorFault) as missing:
        theirs.call("GetCampaign", campaign_id=999_999)
    assert (by_other.value.code, by_other.value.message.replace(str(campaign["campaign_id"]), "N")) \
        == (missing.value.code, missing.value.message.replace("999999", "N"))
    assert by_other.value.code == "UnknownCampaign"


@pytest.mark.parametrize("door", DOORS)
def test_trigger_only_key_cannot_create_surveys(live_server, door):
    client = DOORS[door](live_server.base_url, live_server.new_key("acme", "trigger"))
    with pytest.raises(DoorFault) as caught:
        client.call("CreateSurvey", title="No", language="en", questions=QUESTIONS[:1])
    assert caught.value.code == "Forbidden"
    assert "needs an API key with the 'admin' scope" in caught.value.message


def test_xmlrpc_fault_numbers_are_the_documented_ones(live_server):
    proxy = xmlrpc.client.ServerProxy(
        f"http://{live_server.admin[0]}:nope@{live_server.base_url.removeprefix('http://')}/RPC2")
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.feedloop.list_surveys({})
    assert caught.value.faultCode == 4010


def test_server_log_holds_no_secret_token_or_email(live_server):
    import urllib.error
    import urllib.request
    door = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
    survey = door.call("CreateSurvey", title="Log check", language="en", questions=QUESTIONS[:1])
    campaign = door.call("CreateCampaign", survey_id=survey["survey_id"], name="Log check")
    link = door.call("GetTrackingUrl", campaign_id=campaign["campaign_id"],
                     email="logged.person@example.com",
                     params=[{"name": "ticket", "value": "T-LOG"}])
    token = link["url"].rsplit("/", 1)[1]
    try:
        with urllib.request.urlopen(f"{link['url']}?crm=secret-param", timeout=10) as page:
            page.read()
    except urllib.error.HTTPError as error:
        error.close()  # the page itself is another issue's; its request line is what is logged
    # the worker writes its access line after answering
    wait_until(lambda: "/s/<token>" in live_server.log(), 30, "the access line of /s/<token>")
    log = live_server.log()
    for secret in (token, live_server.admin[1], "logged.person", "T-LOG", "secret-param"):
        assert secret not in log
