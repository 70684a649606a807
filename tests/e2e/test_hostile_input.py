"""Hostile documents against a real gunicorn: a fault every time, and the service carries on."""
from __future__ import annotations

import xmlrpc.client

import pytest
import requests
from lxml import etree

from tests.support.hostile import CORPUS, SOAP_ENV

pytestmark = pytest.mark.e2e
SOAP_CODES = {"Client.InvalidRequest", "Client.RequestTooLarge", "VersionMismatch"}
XMLRPC_CODES = {-32600, -32700, 4130}


@pytest.fixture(scope="module")
def session(live_server):
    with requests.Session() as http:
        http.auth = live_server.admin
        yield http


def still_serving(live_server, session) -> bool:
    answer = session.post(live_server.base_url + "/xmlrpc", timeout=10,
                          data=xmlrpc.client.dumps(({},), "feedloop.list_surveys"),
                          headers={"Content-Type": "text/xml"})
    return "total" in xmlrpc.client.loads(answer.content)[0][0]


def soap_fault(answer) -> tuple[str, str]:
    """The fault code (without its namespace prefix) and string of a SOAP answer."""
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("text/xml")
    fault = etree.fromstring(answer.content).find(f".//{{{SOAP_ENV}}}Fault")
    return fault.findtext("faultcode").split(":")[-1], fault.findtext("faultstring")


def xmlrpc_fault(answer) -> tuple[int, str]:
    """The fault number and string of an XML-RPC answer."""
    assert answer.status_code == 200
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(answer.content)
    return caught.value.faultCode, caught.value.faultString


@pytest.mark.parametrize("name", CORPUS)
def test_soap_answers_hostile_documents_with_a_fault(live_server, session, name):
    body, content_type = CORPUS[name]
    answer = session.post(live_server.base_url + "/soap", data=body, timeout=30,
                          headers={"Content-Type": content_type})
    code, message = soap_fault(answer)
    assert code in SOAP_CODES and message
    assert still_serving(live_server, session)


@pytest.mark.parametrize("name", CORPUS)
def test_xmlrpc_answers_hostile_documents_with_a_fault(live_server, session, name):
    body, content_type = CORPUS[name]
    answer = session.post(live_server.base_url + "/xmlrpc", data=body, timeout=30,
                          headers={"Content-Type": content_type})
    number, message = xmlrpc_fault(answer)
    assert number in XMLRPC_CODES and ": " in message
    assert still_serving(live_server, session)


@pytest.mark.parametrize("door, fault_of, code", [("soap", soap_fault, "Client.InvalidRequest"),
                                                   ("xmlrpc", xmlrpc_fault, -32600)])
def test_compressed_bodies_are_refused_not_inflated(live_server, session, door, fault_of, code):
    import gzip
    # 50 MiB of XML in a body of about 50 KiB: inflating it is what must not happen
    bomb = gzip.compress(b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>")
    answer = session.post(f"{live_server.base_url}/{door}", data=bomb, timeout=30,
                          headers={"Content-Type": "text/xml", "Content-Encoding": "gzip"})
    found, message = fault_of(answer)
    assert found == code and "Content-Encoding 'gzip' is not accepted" in message
    assert still_serving(live_server, session)
