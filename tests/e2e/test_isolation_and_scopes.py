"""Generated from the published contract: every operation in the WSDL and every XML-RPC method.

A new operation is covered the day it is published, without anyone adding a test:
another account's ids must behave exactly like ids that do not exist, and every
scope is checked for every operation.
"""
from __future__ import annotations

import re
import uuid
import xmlrpc.client

import pytest
from lxml import etree

from service.services import OPERATIONS
from service.services.catalogue import SCOPES
from service.services.schema import fields_of
from tests.e2e.doors import DoorFault, SoapDoor, XmlRpcDoor
from tests.support.samples import MISSING, sample_request

pytestmark = pytest.mark.e2e
DOORS = {"soap": SoapDoor.connect, "xmlrpc": XmlRpcDoor.connect}
NOT_FOUND = {"NotFound", "UnknownCampaign"}
DESTRUCTIVE = {"EraseContact", "RevokeApiKey", "SuppressContact"}
#: Operations that make the contact of any email in the caller's own account (an opt-out
#: may come before any survey): B's call with A's email is B's own contact, so it answers
#: unlike a missing id by design. They run last (the others would meet B's new contact);
#: what matters is checked then: A's contact is untouched.
OWN_BY_EMAIL = {"SuppressContact"}
SECRET_TITLE = "A-private-title-7f3"


def published_operations(live_server) -> list[str]:
    """Operation names from the served WSDL, checked against the XML-RPC method list."""
    import urllib.request
    with urllib.request.urlopen(live_server.base_url + "/soap?wsdl") as answer:
        wsdl = etree.fromstring(answer.read())
    names = [op.get("name") for op in wsdl.findall(
        "{http://schemas.xmlsoap.org/wsdl/}portType/{http://schemas.xmlsoap.org/wsdl/}operation")]
    proxy = xmlrpc.client.ServerProxy(live_server.base_url + "/xmlrpc")
    methods = {m for m in proxy.system.listMethods() if m.startswith("feedloop.")}
    assert methods == {OPERATIONS[name].method_name for name in names}
    return names


@pytest.fixture(scope="module")
def account_a(live_server):
    """Account A's objects, one of every kind an id can name."""
    door = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
    survey = door.call("CreateSurvey", title=SECRET_TITLE, language="en", questions=[
        {"key": "nps", "type": "nps", "text": "?"}])
    campaign = door.call("CreateCampaign", survey_id=survey["survey_id"], name=SECRET_TITLE)
    email = f"a-{uuid.uuid4().hex[:6]}@example.com"
    link = door.call("GetTrackingUrl", campaign_id=campaign["campaign_id"], email=email,
                     crm_id="CRM-A-1")
    response = door.call("RecordResponse", invitation_id=link["invitation_id"],
                         answers=[{"key": "nps", "value": "9"}])
    second = door.call("GetTrackingUrl", campaign_id=campaign["campaign_id"],
                       email="b-" + email, crm_id="CRM-A-2")
    key = door.call("CreateApiKey", scopes=["read"], label=SECRET_TITLE)
    return {"survey_id": survey["survey_id"], "campaign_id": campaign["campaign_id"],
            "invitation_id": second["invitation_id"], "token": second["url"].rsplit("/", 1)[1],
            "response_id": response["response_id"],
            "key_id": key["key_id"], "email": email, "crm_id": "CRM-A-1"}


def outcome(door, name: str, fields: dict, ids: dict):
    try:
        result = door.call(name, **fields)
    except DoorFault as fault:
        message = fault.message
        for value in sorted(map(str, ids.values()), key=len, reverse=True):
            message = re.sub(rf"(?<![\w.@-]){re.escape(value)}(?![\w.@-])", "<id>", message)
        return ("fault", fault.code, message)
    return ("result", result)


@pytest.mark.parametrize("door_name", DOORS)
def test_another_accounts_ids_behave_like_missing_ones(live_server, account_a, door_name):
    mine = DOORS[door_name](live_server.base_url, live_server.admin)
    theirs = DOORS[door_name](live_server.base_url, live_server.new_key(f"B-{door_name}", "admin"))
    for name in published_operations(live_server):
        if name in OWN_BY_EMAIL:
            continue
        names_ids = {spec.name for spec in fields_of(OPERATIONS[name].request)} & set(MISSING)
        with_a = outcome(theirs, name, sample_request(name, account_a), account_a)
        assert SECRET_TITLE not in repr(with_a) and account_a["email"] not in repr(with_a), name
        if not names_ids:
            continue
        with_missing = outcome(theirs, name, sample_request(name, MISSING), MISSING)
        assert with_a == with_missing, name
        # a filter by a foreign id finds nothing; a direct reference is not found
        assert with_a[0] == "result" or with_a[1] in NOT_FOUND, (name, with_a)
        if name not in DESTRUCTIVE:
            own = outcome(mine, name, sample_request(name, account_a), account_a)
            assert own[0] == "result" or own[1] not in NOT_FOUND, (name, own)
    for name in OWN_BY_EMAIL:
        theirs.call(name, **sample_request(name, account_a))
    # nothing of A was touched by B's attempts
    check = XmlRpcDoor.connect(live_server.base_url, live_server.admin)
    assert check.call("GetContactResults", email=account_a["email"])["results"]
    assert "suppressed_at" not in check.call("GetContact", email=account_a["email"])
    assert account_a["key_id"] in repr(check.call("ListApiKeys"))


@pytest.mark.parametrize("door_name", DOORS)
def test_every_operation_checks_its_scope(live_server, account_a, door_name):
    # one client per scope: a zeep client reads the WSDL when it is made
    doors = {scope: DOORS[door_name](live_server.base_url, live_server.new_key("acme", scope))
             for scope in SCOPES}
    for name in published_operations(live_server):
        required = OPERATIONS[name].scope
        for scope, door in doors.items():
            result = outcome(door, name, sample_request(name, MISSING), MISSING)
            forbidden = result[0] == "fault" and result[1] == "Forbidden"
            assert forbidden == (scope != "admin" and scope != required), (name, scope, result)
            if forbidden:
                assert re.search(rf"needs an API key with the '{required}' scope", result[2])
