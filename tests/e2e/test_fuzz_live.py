"""A sample of the generated requests (tests/support/fuzz.py) against the real gunicorn:
what the in-process fuzz proves must hold through the server, its workers and HTTP."""
from __future__ import annotations

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support import fuzz

pytestmark = pytest.mark.e2e

PATHS = {"xmlrpc": ("/xmlrpc", {}), "soap": ("/soap", {"SOAPAction": '""'})}


@pytest.mark.parametrize("door", ["xmlrpc", "soap"])
def test_a_sample_of_wrong_and_malformed_requests_gets_client_faults_from_gunicorn(live_server,
                                                                                   door):
    session = requests.Session()
    session.auth = live_server.admin
    path, headers = PATHS[door]

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def check(data):
        op, plain = data.draw(fuzz.request())
        body = (fuzz.xmlrpc_body if door == "xmlrpc" else fuzz.soap_body)(op, plain)
        if data.draw(st.booleans()):
            body = data.draw(fuzz.malformed(body))
        answer = session.post(live_server.base_url + path, data=body, timeout=30,
                              headers={"Content-Type": "text/xml", **headers})
        problem = fuzz.server_error(door, answer.status_code, answer.content)
        assert problem is None, f"{body[:2000]!r}\n-> {problem}"

    before = live_server.log()
    with session:   # its pooled sockets closed, not left to the garbage collector
        check()
    assert "Traceback" not in live_server.log()[len(before):]
