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


def test_a_correction_is_exported_again_and_a_wrong_one_is_refused(door):
    campaign_id = new_campaign(door)
    link = door.call("GetTrackingUrl", campaign_id=campaign_id,
                     email=f"c-{uuid.uuid4().hex[:8]}@example.com")
    response_id = answer(door, link, 3)
    cursor = door.call("ExportResponses", campaign_id=campaign_id)["next_cursor"]
    corrected = door.call("CorrectResponse", response_id=response_id,
                          answers=[{"key": "nps", "value": "10"}])
    assert (corrected["change"], corrected["nps_score"]) == ("corrected", 10)
    again = door.call("ExportResponses", campaign_id=campaign_id, after=cursor)["records"]
    assert [(r["response_id"], r["change"], r["nps_score"]) for r in again] == [
        (response_id, "corrected", 10)]
    with pytest.raises(DoorFault) as refused:
        door.call("CorrectResponse", response_id=response_id,
                  answers=[{"key": "nps", "value": "12"}])
    assert refused.value.code == "ValidationError"


def test_a_cancelled_link_shows_a_closed_page_and_a_closed_campaign_stays_closed(
        door, live_server):
    import urllib.error
    import urllib.request
    campaign_id = new_campaign(door)
    link = door.call("GetTrackingUrl", campaign_id=campaign_id,
                     email=f"x-{uuid.uuid4().hex[:8]}@example.com")
    cancelled = door.call("CancelInvitation", invitation_id=link["invitation_id"],
                          reason="ticket reopened")
    assert cancelled["status"] == "cancelled"
    with pytest.raises(urllib.error.HTTPError) as page:
        urllib.request.urlopen(link["url"], timeout=10)
    with page.value:   # an HTTPError holds the answer open until closed
        assert page.value.code == 410 and "This survey is closed" in page.value.read().decode()
    with pytest.raises(DoorFault) as refused:
        answer(door, link, 9)
    assert refused.value.code == "Conflict"
    assert door.call("CloseCampaign", campaign_id=campaign_id)["status"] == "closed"
    with pytest.raises(DoorFault) as reopen:
        door.call("UpdateCampaign", campaign_id=campaign_id, status="active")
    assert (reopen.value.code, reopen.value.message) == (
        "Conflict", f"Campaign {campaign_id} is closed for good; pause a campaign to stop it "
                    "for a while.")


def test_a_crm_opt_out_holds_every_campaign_until_lifted_and_contacts_are_listed(door):
    run = uuid.uuid4().hex[:8]
    email, list_name = f"crm-{run}@example.com", f"vip-{run}"
    door.call("SyncList", list_name=list_name, mode="add", contacts=[
        {"email": email, "crm_id": f"CRM-{run}"}])
    found = door.call("GetContact", crm_id=f"CRM-{run}")
    assert (found["email"], found["lists"]) == (email, [list_name])
    listed = door.call("ListContacts", list_name=list_name)
    assert (listed["total"], [c["email"] for c in listed["contacts"]]) == (1, [email])
    suppressed = door.call("SuppressContact", email=email)
    assert suppressed["suppressed_via"] == "crm"
    assert email in [c["email"] for c in door.call("ListSuppressions", limit=1000)["contacts"]]
    with pytest.raises(DoorFault) as refused:
        door.call("GetTrackingUrl", campaign_id=new_campaign(door), email=email)
    assert refused.value.code == "Unsubscribed"
    assert "suppressed_at" not in door.call("UnsuppressContact", email=email)
    assert door.call("GetTrackingUrl", campaign_id=new_campaign(door), email=email)["url"]


def test_a_survey_update_is_a_new_version_and_answers_keep_theirs(door):
    survey = door.call("CreateSurvey", title="v1", language="en", questions=[
        {"key": "nps", "type": "nps", "text": "?"}, {"key": "comment", "type": "text", "text": "?"}])
    campaign_id = door.call("CreateCampaign", survey_id=survey["survey_id"],
                            name="c")["campaign_id"]
    link = door.call("GetTrackingUrl", campaign_id=campaign_id,
                     email=f"v-{uuid.uuid4().hex[:8]}@example.com")
    door.call("RecordResponse", invitation_id=link["invitation_id"],
              answers=[{"key": "nps", "value": "7"}, {"key": "comment", "value": "ok"}])
    updated = door.call("UpdateSurvey", survey_id=survey["survey_id"], language="fr",
                        questions=[{"key": "nps", "type": "nps", "text": "Recommanderiez-vous ?"}])
    assert (updated["version"], updated["language"]) == (2, "fr")
    assert door.call("GetSurvey", survey_id=survey["survey_id"], version=1)["title"] == "v1"
    [record] = door.call("ExportResponses", campaign_id=campaign_id)["records"]
    assert (record["survey_version"], [a["key"] for a in record["answers"]]) == (
        1, ["nps", "comment"])
    with pytest.raises(DoorFault) as refused:
        door.call("UpdateSurvey", survey_id=survey["survey_id"],
                  questions=[{"key": "comment", "type": "nps", "text": "?"}])
    assert refused.value.code == "ValidationError"
