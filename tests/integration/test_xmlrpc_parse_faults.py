"""What the XML-RPC door answers to a body that is XML but not a plain call: a fault, on 200.

The door reads plain calls from the XML guard's tree and leaves every other document to
the stdlib's parser (tests/unit/test_xmlrpc_wire.py proves the two agree); these are the
answers a client gets either way.
"""
from __future__ import annotations

import xmlrpc.client

import pytest


def call_of(*params: str, method: str = "<methodName>feedloop.get_contact_results</methodName>"
            ) -> bytes:
    return (f"<?xml version='1.0'?><methodCall>{method}<params>"
            + "".join(f"<param>{param}</param>" for param in params)
            + "</params></methodCall>").encode()


def fault_of(web, body: bytes) -> tuple[int, str]:
    response = web.post("/xmlrpc", body, content_type="text/xml")
    assert response.status_int == 200 and response.content_type == "text/xml"
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(response.body)
    return caught.value.faultCode, caught.value.faultString


NOT_A_CALL = "ParseError: The request is not a valid XML-RPC call"


@pytest.mark.parametrize("body, number, start", [
    (call_of("<value><int>12x</int></value>"), -32700,
     f"{NOT_A_CALL} (invalid literal for int() with base 10: '12x')."),
    (call_of("<value><boolean>true</boolean></value>"), -32700,
     f"{NOT_A_CALL} (bad boolean value)."),
    (call_of("<value><struct><member><name>email</name></member></struct></value>"), -32700,
     NOT_A_CALL),
    (call_of("<value><colour>red</colour></value>"), -32700,
     f"{NOT_A_CALL} (ResponseError(\"unknown tag 'colour'\"))."),
    (call_of("<value><dateTime.iso8601>2026-12-01</dateTime.iso8601></value>"), -32700,
     NOT_A_CALL),
    (call_of("<value>a@example.com</value>", method=""), -32600,
     "InvalidRequest: The document is not a methodCall."),
    # Both were an HTTP 500 while the stdlib's exception escaped the door.
    (call_of("<value><bigdecimal>many</bigdecimal></value>"), -32700, NOT_A_CALL),
    (b"<methodCall><fault><value><struct><member><name>faultCode</name><value><int>1</int>"
     b"</value></member><member><name>faultString</name><value>no</value></member></struct>"
     b"</value></fault></methodCall>", -32700, f"{NOT_A_CALL} (<Fault 1: 'no'>)."),
])
def test_a_malformed_call_gets_the_fault_the_stdlib_parser_gives(web, body, number, start):
    code, text = fault_of(web, body)
    assert code == number and text.startswith(start)


def test_a_call_with_a_namespaced_nil_and_a_tag_of_its_own_is_read_as_the_stdlib_reads_it(web):
    # Not a plain call (a prefixed tag, a wrapper around the method name): the stdlib
    # reads it, skipping what it does not know, and the call runs to the service's answer.
    body = call_of("<value><struct><member><name>email</name><value>ana@example.com</value>"
                   "</member><member><name>crm_id</name><value><ex:nil xmlns:ex='urn:x'/>"
                   "</value></member></struct></value>",
                   method="<wrapped><methodName>feedloop.get_contact_results</methodName>"
                          "</wrapped>")
    assert fault_of(web, body) == (4040, "NotFound: No contact with that email.")
