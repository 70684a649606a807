"""10,000 rows in one call, through each door, with valid, invalid and duplicate rows mixed.

Each door runs once, on a database of its own: SOAP on SQLite, XML-RPC on PostgreSQL. The door
does not touch the database and the service does not know the door, so every door and every
database carries 10,000 rows without running all four combinations.
"""
from __future__ import annotations

import pytest

from tests.e2e.doors import SoapDoor, XmlRpcDoor

pytestmark = pytest.mark.e2e
ROWS = 10_000


def rows(prefix: str) -> list[dict]:
    out = []
    for i in range(ROWS):
        if i % 10 == 3:
            out.append({"email": f"broken-{i}"})
        elif i % 10 == 7:
            out.append({"email": f"{prefix}{i}@example.com", "event_id": f"{prefix}-ev-{i - 1}"})
        else:
            out.append({"email": f"{prefix}{i}@example.com", "event_id": f"{prefix}-ev-{i}",
                        "params": [{"name": "row", "value": str(i)}]})
    return out


#: The door that carries the 10,000 rows to each database's server.
DOOR_FOR = {"sqlite": SoapDoor, "postgres": XmlRpcDoor}


def test_ten_thousand_rows_in_one_call_keep_their_order(live_server):
    door = DOOR_FOR[live_server.database]
    client = door.connect(live_server.base_url, live_server.admin)
    survey = client.call("CreateSurvey", title="bulk", language="sv",
                         questions=[{"key": "nps", "type": "nps", "text": "?"}])
    campaign = client.call("CreateCampaign", survey_id=survey["survey_id"], name="bulk")
    prefix = door.__name__.lower()
    result = client.call("AddRespondents", campaign_id=campaign["campaign_id"],
                         respondents=rows(prefix))
    results = result["results"]
    assert [r["row"] for r in results] == list(range(ROWS))
    expected = ["invalid" if i % 10 == 3 else "duplicate" if i % 10 == 7 else "sent"
                for i in range(ROWS)]
    assert [r["status"] for r in results] == expected
    assert results[7]["invitation_id"] == results[6]["invitation_id"]
    assert (result["sent"], result["invalid"], result["duplicate"]) == (8000, 1000, 1000)
    assert len({r["url"] for r in results if r["status"] == "sent"}) == 8000
