"""Issue 14's operations and rules through both doors of a real gunicorn, on SQLite and PostgreSQL."""
from __future__ import annotations

import uuid

import pytest

from tests.e2e.doors import DoorFault, SoapDoor, XmlRpcDoor

pytestmark = pytest.mark.e2e

DOORS = {"soap": SoapDoor.connect, "xmlrpc": XmlRpcDoor.connect}


@pytest.fixture(params=DOORS)
def door(request, live_server):
    return DOORS[request.param](live_server.base_url, live_server.admin)


def new_campaign(door, **settings) -> int:
    survey = door.call("CreateSurvey", title="Store visit", language="en", questions=[
        {"key": "nps", "type": "nps", "text": "How likely are you to recommend us?"}])
    return door.call("CreateCampaign", survey_id=survey["survey_id"], name="Stores",
                     **settings)["campaign_id"]


def answer(door, link: dict, score: int) -> int:
    return door.call("RecordResponse", invitation_id=link["invitation_id"],
                     answers=[{"key": "nps", "value": str(score)}])["response_id"]


def by_store(door, campaign_id: int) -> list[tuple]:
    metrics = door.call("GetCampaignMetrics", campaign_id=campaign_id, breakdown="store")
    return [(group["value"], group["invited"], group.get("nps"))
            for group in metrics.get("breakdown", [])]


def test_a_repeat_customers_earlier_answer_stays_with_the_store_of_its_send(door):
    door.call("DefineAttribute", name="store", kind="ordinal", values=["small", "medium", "large"])
    campaign_id = new_campaign(door)
    run = uuid.uuid4().hex[:8]
    her = f"repeat-{run}@example.com"

    def trigger(email: str, store: str) -> dict:
        return door.call("GetTrackingUrl", campaign_id=campaign_id, email=email,
                         attributes=[{"name": "store", "value": store}])

    for email, score in ((her, 10), (f"s2-{run}@example.com", 10), (f"s3-{run}@example.com", 0)):
        answer(door, trigger(email, "small"), score)
    for email, score in ((f"l1-{run}@example.com", 10), (f"l2-{run}@example.com", 9)):
        answer(door, trigger(email, "large"), score)
    trigger(f"l3-{run}@example.com", "large")
    assert by_store(door, campaign_id) == [("small", 3, 33.3), ("large", 3, 100.0)]
    again = trigger(her, "large")
    assert by_store(door, campaign_id) == [("small", 3, 33.3), ("large", 4, 100.0)]
    # filters too
    small = door.call("GetCampaignMetrics", campaign_id=campaign_id,
                      filters=[{"name": "store", "values": ["small"]}])
    assert (small["invited"], small["responded"], small["nps"]) == (3, 3, 33.3)
    sent = door.call("GetInvitation", invitation_id=again["invitation_id"])
    assert (sent["email"], sent["attributes"]) == (her, [{"name": "store", "value": "large"}])


def test_an_ordinal_value_outside_its_definition_is_refused_by_every_trigger(door):
    door.call("DefineAttribute", name="store", kind="ordinal", values=["small", "medium", "large"])
    campaign_id = new_campaign(door)
    huge = [{"name": "store", "value": "huge"}]
    with pytest.raises(DoorFault) as refused:
        door.call("GetTrackingUrl", campaign_id=campaign_id, email="huge@example.com",
                  attributes=huge)
    assert (refused.value.code, refused.value.message) == (
        "ValidationError",
        "'huge' is not a value of the ordinal attribute 'store' (small, medium, large).")
    rows = door.call("AddRespondents", campaign_id=campaign_id, respondents=[
        {"email": "huge@example.com", "attributes": huge}])["results"]
    assert (rows[0]["status"], rows[0]["reason"]) == ("invalid", refused.value.message)
    assert by_store(door, campaign_id) == []
