"""An out-of-range number is the same ValidationError naming the field on both doors."""
from __future__ import annotations

import pytest

from tests.integration.test_doors_in_process import envelope, rpc_fault, soap_fault


@pytest.mark.parametrize("number", ["2147483648", "9223372036854775808", "0", "-1"])
def test_soap_refuses_an_id_out_of_range_naming_the_field(web, number):
    body = envelope(f"<f:GetCampaign><f:campaign_id>{number}</f:campaign_id></f:GetCampaign>")
    code, message = soap_fault(web.post("/soap", body, content_type="text/xml",
                                        expect_errors=True))
    assert code == "Client.ValidationError" and "campaign_id" in message


@pytest.mark.parametrize("field, written, message", [
    ("campaign_id", "<i8>9223372036854775808</i8>", "'campaign_id' must be at most 2147483647."),
    ("campaign_id", "<int>2147483648</int>", "'campaign_id' must be at most 2147483647."),
    ("reminder_days", "<int>367</int>", "'reminder_days' must be at most 366."),
    ("send_delay_minutes", "<i8>4294967296</i8>", "'send_delay_minutes' must be at most 527040."),
])
def test_xmlrpc_refuses_a_number_out_of_range_naming_the_field(web, field, written, message):
    members = {"campaign_id": "<int>1</int>", field: written}
    body = ("<?xml version='1.0'?><methodCall><methodName>feedloop.update_campaign</methodName>"
            "<params><param><value><struct>" + "".join(
                f"<member><name>{name}</name><value>{value}</value></member>"
                for name, value in members.items())
            + "</struct></value></param></params></methodCall>").encode()
    assert rpc_fault(web.post("/xmlrpc", body, content_type="text/xml")) == (
        -32602, "ValidationError: " + message)
