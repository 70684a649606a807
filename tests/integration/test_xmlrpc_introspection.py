"""system.methodHelp and system.methodSignature describe every field and the real fault codes."""
from __future__ import annotations

import dataclasses
import xmlrpc.client

import pytest

from service.domain.errors import XMLRPC_CODES
from service.services import OPERATIONS


@pytest.fixture
def introspect(web):
    def call(method, *params):
        return xmlrpc.client.loads(web.post("/xmlrpc", xmlrpc.client.dumps(params, method),
                                            content_type="text/xml").body)[0][0]
    return call


def test_help_lists_every_field_of_nested_structs_with_type_requirement_and_limits(introspect):
    text = introspect("system.methodHelp", "feedloop.add_respondents")
    assert "Scope: trigger." in text
    for line in ["  campaign_id  int  required  1 to 2,147,483,647",
                 "  respondents  array of struct Respondent  required  1 to 10,000 items",
                 "struct Respondent:",
                 "  email  string  required  at most 254 characters",
                 "  attributes  array of struct Attribute  optional  at most 50 items",
                 "struct Attribute:",
                 "  value  string  required  at most 1,000 characters",
                 "Returns: struct AddRespondentsResult",
                 "  results  array of struct RespondentResult  required",
                 "  -32602 ValidationError: A field is missing, unknown, of another type or out "
                 "of its range (the message names it).",
                 "  4000 ValidationError: A value breaks a rule of the operation; the message "
                 "names the field.",
                 "  4041 UnknownCampaign: No such campaign in the caller's account.",
                 "  -32603 InternalError: A failure of ours; the message gives a reference id "
                 "found in the log."]:
        assert line in text.splitlines()
    assert "ValidationError (4000)" not in text


def test_help_of_every_operation_names_every_request_field_and_fault_number(introspect):
    for op in OPERATIONS.values():
        lines = introspect("system.methodHelp", op.method_name).splitlines()
        names = {line.split()[0] for line in lines if line.startswith("  ") and
                 ("required" in line or "optional" in line)}
        assert {f.name for f in dataclasses.fields(op.request)} <= names
        numbers = {int(line.split()[0]) for line in lines[lines.index(
            'Faults (faultCode, then the faultString "Code: message"):') + 1:]}
        assert {XMLRPC_CODES[e.code] for e in op.errors} | {-32602, -32603, -32700} <= numbers


def test_signatures_cover_the_struct_and_every_positional_length(introspect):
    assert introspect("system.methodSignature", "feedloop.get_tracking_url") == [
        ["struct", "struct"], ["struct", "int", "string"],
        ["struct", "int", "string", "array"], ["struct", "int", "string", "array", "array"],
        ["struct", "int", "string", "array", "array", "string"],
        ["struct", "int", "string", "array", "array", "string", "string"]]
    assert introspect("system.methodSignature", "feedloop.get_crm_push") == [
        ["struct", "struct"], ["struct"]]
    assert introspect("system.methodSignature", "feedloop.list_surveys") == [
        ["struct", "struct"], ["struct"], ["struct", "int"], ["struct", "int", "int"]]


def test_positional_calls_of_every_signature_length_are_accepted(web):
    body = xmlrpc.client.dumps((1, "a@b.co", [], [], "crm-1"), "feedloop.get_tracking_url")
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(web.post("/xmlrpc", body, content_type="text/xml").body)
    assert caught.value.faultCode == XMLRPC_CODES["UnknownCampaign"]
