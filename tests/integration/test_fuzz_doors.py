"""Generated requests to both doors in process: no client mistake is ever a server error.

Every operation of the catalogue is drawn with right, wrong, missing, unknown and
out-of-range fields (tests/support/fuzz.py), written as XML-RPC and as SOAP, whole or
spoiled, and any method with any positional parameters or batch, on SQLite and
PostgreSQL: about 1,200 requests by default (FEEDLOOP_FUZZ_EXAMPLES=120 per test). A
longer hunt (past the 180 s limit of a test): ``FEEDLOOP_FUZZ_EXAMPLES=5000 bash tests/run.sh
tests/integration/test_fuzz_doors.py --timeout=3600``.
"""
from __future__ import annotations

import os
import xmlrpc.client

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support import fuzz

# The application is made once per test and the drawn requests pile up in its database,
# as they would on a server: later ones meet the rows earlier ones made.
FUZZ = settings(max_examples=int(os.environ.get("FEEDLOOP_FUZZ_EXAMPLES", "120")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])


@pytest.fixture
def fuzzed_app(database_url, tmp_path, clock):
    """The whole WSGI application on a fresh database of either kind."""
    from service.config import Settings
    from service.wsgi import create_app
    wsgi = create_app(Settings(database_url=database_url, base_url="http://127.0.0.1:8000",
                               secret_key=b"k", smtp_url="", data_dir=tmp_path), clock=clock)
    yield wsgi
    wsgi.engine.dispose()


@pytest.fixture
def seeded(fuzzed_app):
    """WebTest with an admin key, and a survey, a campaign, an invitation and a response of
    its account."""
    from webtest import TestApp
    from service.services.keys import create_account_key
    created = create_account_key(fuzzed_app.runtime, "acme", ["admin"])
    web = TestApp(fuzzed_app)
    web.authorization = ("Basic", (created.key_id, created.secret))

    def call(method, struct):
        return xmlrpc.client.loads(web.post("/xmlrpc", xmlrpc.client.dumps((struct,), method),
                                            content_type="text/xml").body)[0][0]
    survey = call("feedloop.create_survey", {"title": "t", "language": "en", "questions": [
        {"key": "nps", "type": "nps", "text": "?"}, {"key": "mail", "type": "email", "text": "?"},
        {"key": "pick", "type": "multi", "text": "?", "choices": ["a", "b"]}]})
    campaign = call("feedloop.create_campaign", {"survey_id": survey["survey_id"], "name": "c",
                                                 "delivery": "email"})
    link = call("feedloop.get_tracking_url", {"campaign_id": campaign["campaign_id"],
                                              "email": "ana@example.com"})
    call("feedloop.record_response", {"invitation_id": link["invitation_id"],
                                      "answers": [{"key": "nps", "value": "9"}]})
    return web


def post(web, door: str, body: bytes):
    path, headers = ("/xmlrpc", {}) if door == "xmlrpc" else ("/soap", {"SOAPAction": '""'})
    response = web.post(path, body, content_type="text/xml", headers=headers,
                        expect_errors=True)
    problem = fuzz.server_error(door, response.status_int, response.body)
    assert problem is None, f"{body[:2000]!r}\n-> {problem}"


def written(door: str, op, plain) -> bytes:
    return (fuzz.xmlrpc_body if door == "xmlrpc" else fuzz.soap_body)(op, plain)


@pytest.mark.parametrize("door", ["xmlrpc", "soap"])
def test_wrong_requests_of_every_operation_are_client_faults(seeded, door):
    @FUZZ
    @given(drawn=fuzz.request())
    def check(drawn):
        op, plain = drawn
        post(seeded, door, written(door, op, plain))

    check()


@pytest.mark.parametrize("door", ["xmlrpc", "soap"])
def test_malformed_requests_are_client_faults(seeded, door):
    @FUZZ
    @given(data=st.data())
    def check(data):
        op, plain = data.draw(fuzz.request())
        post(seeded, door, data.draw(fuzz.malformed(written(door, op, plain))))

    check()


def test_any_method_with_any_positional_parameters_or_batch_is_a_client_fault(seeded):
    methods = st.sampled_from([op.method_name for op in fuzz.OPERATIONS.values()]
                              + ["system.multicall", "system.methodHelp",
                                 "system.methodSignature", "system.listMethods"]) | fuzz.TEXT

    calls = st.lists(fuzz.request().map(
        lambda drawn: {"methodName": drawn[0].method_name, "params": [drawn[1]]}), max_size=3)

    @FUZZ
    @given(method=methods, params=st.lists(fuzz.wrong_value(), max_size=4) | calls.map(
        lambda batch: [batch]))
    def check(method, params):
        body = (f"<?xml version='1.0'?><methodCall><methodName>{fuzz.escape(method)}"
                "</methodName><params>" + "".join(f"<param>{fuzz.xmlrpc_value(p)}</param>"
                                                  for p in params)
                + "</params></methodCall>").encode()
        post(seeded, "xmlrpc", body)

    check()


@pytest.mark.parametrize("struct", [
    "<member><name>crm_id</name></member>",                       # a name without a value
    "<member><value><int>1</int></value></member>",               # a value without a name
    "<member><name>a</name><name>b</name><value>x</value></member>",
    "<member><name><int>1</int></name><value>x</value></member>",
])
def test_a_struct_whose_members_do_not_pair_names_and_values_is_a_parse_fault(seeded, struct):
    # Found by the malformed-request fuzz: the stdlib unmarshaller fails on such a struct
    # with an IndexError, which must be the caller's ParseError, never an internal error.
    body = ("<?xml version='1.0'?><methodCall><methodName>feedloop.get_contact_results"
            f"</methodName><params><param><value><struct>{struct}</struct></value></param>"
            "</params></methodCall>").encode()
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(seeded.post("/xmlrpc", body, content_type="text/xml").body)
    assert fault.value.faultCode == -32700
    assert fault.value.faultString.startswith("ParseError: The request is not a valid XML-RPC")
