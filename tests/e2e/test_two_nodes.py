"""docs/deploy.md's set-up in small: two nodes on one PostgreSQL, sharing FEEDLOOP_SECRET_KEY."""
from __future__ import annotations

import urllib.request
import xmlrpc.client

import pytest

from tests.e2e.conftest import PUBLIC_URL, make_tracking_link

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_a_link_made_by_one_node_opens_on_the_other(two_nodes):
    (node1, node2), key = two_nodes
    key_id, secret = key.split(":", 1)
    api = xmlrpc.client.ServerProxy(
        f"http://{key_id}:{secret}@{node1.url.removeprefix('http://')}/xmlrpc")
    link = make_tracking_link(api)
    assert link.startswith(PUBLIC_URL + "/s/")
    for node in (node1, node2):
        with urllib.request.urlopen(link.replace(PUBLIC_URL, node.url)) as page:
            assert page.status == 200 and b"<form" in page.read()
        with urllib.request.urlopen(node.url + "/readyz") as ready:
            assert ready.status == 200
