"""docs/deploy.md's set-up in small: two nodes on one PostgreSQL, sharing FEEDLOOP_SECRET_KEY."""
from __future__ import annotations

import contextlib
import os
import subprocess
import urllib.request
import uuid
import xmlrpc.client

import pytest

from tests.e2e.conftest import FEEDLOOP, serving

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def feedloop(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([FEEDLOOP, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def two_nodes(postgres_server, tmp_path):
    """migrate, accounts create, then two `feedloop serve` with their own data directories."""
    name = "nodes_" + uuid.uuid4().hex[:8]
    shared = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
              "FEEDLOOP_DATABASE_URL": postgres_server.create_database(name),
              "FEEDLOOP_SECRET_KEY": uuid.uuid4().hex, "FEEDLOOP_BASE_URL": "https://surveys.test"}
    assert "no account yet" in feedloop(shared, "migrate")
    key = feedloop(shared, "accounts", "create", "Acme").strip().splitlines()[-1]
    with contextlib.ExitStack() as stack:
        stack.callback(postgres_server.drop_database, name)
        nodes = []
        for n in (1, 2):
            env = {**shared, "FEEDLOOP_DATA_DIR": str(tmp_path / f"node{n}")}
            nodes.append(stack.enter_context(serving(
                env, tmp_path, tmp_path / f"node{n}.log", "--workers", "1",
                public_url=shared["FEEDLOOP_BASE_URL"])))
        yield nodes, key


def test_a_link_made_by_one_node_opens_on_the_other(two_nodes):
    (node1, node2), key = two_nodes
    key_id, secret = key.split(":", 1)
    api = xmlrpc.client.ServerProxy(f"http://{key_id}:{secret}@{node1.removeprefix('http://')}"
                                    "/xmlrpc")
    survey = api.feedloop.create_survey({"title": "t", "language": "en", "questions": [
        {"key": "nps", "type": "nps", "text": "?", "required": True}]})
    campaign = api.feedloop.create_campaign({"survey_id": survey["survey_id"], "name": "c"})
    link = api.feedloop.get_tracking_url({"campaign_id": campaign["campaign_id"],
                                          "email": "ana@example.com"})["url"]
    assert link.startswith("https://surveys.test/s/")
    for node in (node1, node2):
        with urllib.request.urlopen(link.replace("https://surveys.test", node)) as page:
            assert page.status == 200 and b"<form" in page.read()
        with urllib.request.urlopen(node + "/readyz") as ready:
            assert ready.status == 200
