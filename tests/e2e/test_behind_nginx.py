"""deploy/nginx.conf in front of two nodes on one PostgreSQL, as docs/deploy.md sets them up.

Clients speak https to nginx and trust its self-signed certificate only. They connect
from 127.0.0.2 (still the loopback), so that the client's address differs from the
proxy's (127.0.0.1), which is how the nodes tell a proxied request from the client.
"""
from __future__ import annotations

import http.client
import re
import ssl
import urllib.request
import xmlrpc.client
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import METRICS_TOKEN, PUBLIC_URL, Node, make_tracking_link
from tests.support.conditions import wait_until
from tests.support.nginx import NginxServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nginx]

CLIENT = "127.0.0.2"
#: Both nodes answer within this many consecutive requests (round-robin over two).
ROUND = 4


@pytest.fixture(scope="module")
def nginx(two_nodes):
    nodes, _ = two_nodes
    with NginxServer(tuple(node.url.removeprefix("http://") for node in nodes)) as server:
        yield server


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def tls(nginx: NginxServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=nginx.certificate)


def fetch(nginx: NginxServer, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None, https: bool = True) -> Answer:
    """One request to nginx from CLIENT, on its https port (or its plain http one)."""
    if https:
        connection = http.client.HTTPSConnection("127.0.0.1", nginx.https_port, timeout=30,
                                                 context=tls(nginx), source_address=(CLIENT, 0))
    else:
        connection = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=30,
                                                source_address=(CLIENT, 0))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def served_by(nodes: list[Node], request_id: str) -> tuple[int, str]:
    """The index of the node that served ``request_id``, and its access log line."""
    def lines() -> list[tuple[int, str]]:
        return [(index, line) for index, node in enumerate(nodes)
                for line in node.log().splitlines() if line.endswith(" " + request_id)]
    # gunicorn writes the line after the response, which the client may have first
    [found] = wait_until(lines, 10, f"the access log line of request {request_id}")
    return found


def test_a_link_made_through_one_node_opens_through_nginx_on_both_nodes(two_nodes, nginx):
    nodes, key = two_nodes
    with xmlrpc.client.ServerProxy(f"https://{key}@127.0.0.1:{nginx.https_port}/xmlrpc",
                                   context=tls(nginx)) as api:
        path = make_tracking_link(api).removeprefix(PUBLIC_URL)
    serving = set()
    for _ in range(ROUND):
        page = fetch(nginx, "GET", path)
        assert page.status == 200 and b"<form" in page.body
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        serving.add(served_by(nodes, page.headers["X-Request-Id"])[0])
    assert serving == {0, 1}


def test_the_client_address_reaches_only_the_node_that_trusts_nginx(two_nodes, nginx):
    nodes, _ = two_nodes
    seen = {}
    for _ in range(ROUND):
        # nginx replaces a client's own X-Real-IP with the address it sees
        answer = fetch(nginx, "GET", "/healthz", headers={"X-Real-IP": "203.0.113.9"})
        index, line = served_by(nodes, answer.headers["X-Request-Id"])
        seen[index] = line.split()[0]
    # node 1 lists 127.0.0.1 in FEEDLOOP_TRUSTED_PROXIES, node 2 does not
    assert seen == {0: CLIENT, 1: "127.0.0.1"}


def test_the_request_id_nginx_sets_is_in_its_log_the_node_log_and_the_response(
        two_nodes, nginx):
    nodes, _ = two_nodes
    answer = fetch(nginx, "GET", "/readyz", headers={"X-Request-Id": "chosen-by-the-client"})
    request_id = answer.headers["X-Request-Id"]
    assert answer.status == 200
    # nginx's $request_id: 32 hex digits, where a node makes up 12 of its own
    assert re.fullmatch("[0-9a-f]{32}", request_id)
    index, _ = served_by(nodes, request_id)

    def nginx_line() -> list[str]:
        return [line for line in nginx.access_log.read_text().splitlines()
                if line.startswith(request_id + " ")]
    [line] = wait_until(nginx_line, 10, "nginx's access log line")
    assert line.split()[1] == nodes[index].url.removeprefix("http://")


def test_plain_http_is_redirected_to_the_same_address_over_https(nginx):
    answer = fetch(nginx, "GET", "/s/abc?lang=fr", https=False)
    assert answer.status == 301
    assert answer.headers["Location"] == "https://127.0.0.1/s/abc?lang=fr"


def test_metrics_are_closed_through_nginx_but_served_by_each_node(two_nodes, nginx):
    nodes, _ = two_nodes
    token = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    answer = fetch(nginx, "GET", "/metrics", headers=token)
    assert answer.status == 404 and "X-Request-Id" not in answer.headers  # nginx's own 404
    for node in nodes:
        with urllib.request.urlopen(urllib.request.Request(node.url + "/metrics",
                                                           headers=token)) as metrics:
            assert b"feedloop_http_requests_total" in metrics.read()


def test_a_body_over_17_mib_is_refused_by_nginx_before_any_node_sees_it(nginx):
    answer = fetch(nginx, "POST", "/xmlrpc", body=b" " * (17 * 2**20 + 1),
                   headers={"Content-Type": "text/xml"})
    assert answer.status == 413 and "X-Request-Id" not in answer.headers

    def refused() -> list[list[str]]:
        return [line.split() for line in nginx.access_log.read_text().splitlines()
                if '"POST /xmlrpc' in line and " 413 " in line]
    [[_, upstream, *_]] = wait_until(refused, 10, "nginx's access log line of the 413")
    assert upstream == "-"  # no node was asked
