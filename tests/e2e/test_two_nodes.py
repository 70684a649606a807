"""docs/deploy.md's set-up in small: two nodes on one PostgreSQL, sharing FEEDLOOP_SECRET_KEY,
and three `feedloop worker` processes (docs/topology.md); as docs/scale.md has it, every
process reaches PostgreSQL through PgBouncer in transaction mode and scheduled dump files
live in an S3-compatible bucket."""
from __future__ import annotations

import base64
import hashlib
import threading
import urllib.request
import xmlrpc.client
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import boto3
import pytest
import requests
import zeep
from zeep.transports import Transport

from service.storage.engine import make_engine
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import PUBLIC_URL, make_tracking_link
from tests.e2e.doors import SoapDoor, XmlRpcDoor, closing
from tests.integration.test_worker import HeldSocketController, Inbox
from tests.support.conditions import wait_until
from tests.support.ledger import report
from tests.support.ports import listening_socket
from tests.support.processes import feedloop_workers
from tests.support.receivers import HookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.pgbouncer]


def test_a_link_made_by_one_node_opens_on_the_other(pooled_nodes):
    (node1, node2), key = pooled_nodes
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


def soap_door_at(node_url: str, key: tuple[str, str]) -> SoapDoor:
    """A SOAP door posting to this node (the WSDL's address is the public one)."""
    session = requests.Session()
    session.auth = key
    client = zeep.Client(f"{node_url}/soap?wsdl",
                         transport=Transport(session=session, timeout=30, operation_timeout=60))
    [binding] = client.wsdl.bindings
    return closing(SoapDoor(SimpleNamespace(service=client.create_service(
        binding, f"{node_url}/soap"))), session)


#: Client threads and the calls each makes: every call lands on a node and a door in turn.
THREADS, ROUNDS = 4, 8
WORKERS = 3


def make_dump_due(env: dict[str, str], campaign_id: int) -> None:
    """The campaign's scheduled dump comes due now (instead of waiting for its hour)."""
    engine = make_engine(env["FEEDLOOP_DATABASE_URL"], transaction_pooler=True)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE campaigns SET next_dump_at = timezone('utc', now()) - interval '1 second'"
                " WHERE id = %(id)s", {"id": campaign_id})
    finally:
        engine.dispose()


def bucket_objects(env: dict[str, str]) -> list[str]:
    """The keys of every object in the nodes' dump bucket."""
    client = boto3.client("s3", endpoint_url=env["FEEDLOOP_S3_ENDPOINT_URL"],
                          region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    listed = client.list_objects_v2(Bucket=env["FEEDLOOP_DUMP_BUCKET"])
    return [item["Key"] for item in listed.get("Contents", [])]


def test_two_nodes_and_three_workers_behind_pgbouncer_do_everything_once_under_load(
        pooled_nodes, tmp_path):
    (node1, node2), key = pooled_nodes
    key = tuple(key.split(":", 1))

    def connect() -> list[list]:
        """[door][node]: clients of both doors on both nodes (a thread's own: xmlrpc.client
        and requests sessions are not for sharing between threads)."""
        return [[make(node.url, key) for node in (node1, node2)]
                for make in (soap_door_at, XmlRpcDoor.connect)]

    hooks = HookReceiver()
    hooks.release.set()
    hooks.open()
    inbox = Inbox()
    smtp = HeldSocketController(inbox, listening_socket())
    smtp.start()
    setup = XmlRpcDoor.connect(node1.url, key)
    setup.call("RotateWebhookSecret", confirm=True)
    setup.call("ConfigureCrmPush", connector="generic", endpoint=hooks.url, client_id="ours",
               api_secret="whsec_" + base64.b64encode(b"k" * 32).decode())
    survey_id = setup.call("CreateSurvey", title="t", language="en", questions=[
        {"key": "nps", "type": "nps", "text": "?"}])["survey_id"]
    mailed = setup.call("CreateCampaign", survey_id=survey_id, name="mailed",
                        delivery="email")["campaign_id"]
    answered = setup.call("CreateCampaign", survey_id=survey_id, name="answered",
                          webhooks=[hooks.url], crm_push=True, dump_every="daily",
                          dump_at="02:00")["campaign_id"]
    exported: list[int] = []
    writing = threading.Event()
    writing.set()

    def client(t: int) -> int:
        doors, responses = connect(), 0
        for i in range(ROUNDS):
            here, there = doors[t % 2][i % 2], doors[(t + 1) % 2][(i + 1) % 2]
            here.call("AddRespondents", campaign_id=mailed, respondents=[
                {"email": f"m{t}.{i}@example.com", "event_id": f"m{t}.{i}"}])
            link = here.call("GetTrackingUrl", campaign_id=answered,
                             email=f"r{t}.{i}@example.com", event_id=f"r{t}.{i}")
            path = link["url"].removeprefix(PUBLIC_URL)
            other = (node2 if i % 2 == 0 else node1).url
            with urllib.request.urlopen(other + path) as page:  # made on one node, opened on the other
                assert page.status == 200 and b"<form" in page.read()
            there.call("RecordResponse", invitation_id=link["invitation_id"],
                       answers=[{"key": "nps", "value": str(i)}])
            responses += 1
        return responses

    def exporter() -> None:
        doors, after = connect(), None
        for page in range(10_000):  # a bound, not an expected count: it ends far sooner
            # Read before the page is asked for: a last page counts only when every write
            # had been acknowledged before it was read.
            written = not writing.is_set()
            door = doors[page % 2][(page // 2) % 2]   # each page from another node or door
            batch = door.call("ExportResponses", campaign_id=answered, after=after, limit=7)
            exported.extend(record["response_id"] for record in batch.get("records", []))
            after = batch.get("next_cursor", after)
            if written and not batch.get("has_more"):
                return
        raise AssertionError("the export never caught up with the writers")

    worker_env = {**node1.env, "FEEDLOOP_DATA_DIR": str(tmp_path / "workers"),
                  "FEEDLOOP_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}?from=s@feedloop.test"}
    try:
        with feedloop_workers(worker_env, tmp_path) as start:
            for _ in range(WORKERS):
                start()
            with ThreadPoolExecutor(THREADS + 1) as pool:
                export = pool.submit(exporter)
                try:
                    recorded = sum(pool.map(client, range(THREADS)))
                finally:
                    writing.clear()
                export.result(timeout=120)
            calls = THREADS * ROUNDS
            wait_until(lambda: len(inbox.messages) >= calls and len(hooks.received) >= 2 * calls,
                       90, "every mail, webhook and CRM push")
            make_dump_due(node1.env, answered)
            dumps = wait_until(lambda: setup.call("ListDumps", campaign_id=answered).get("dumps"),
                               30, "the scheduled dump")
            logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
            rounds = [log.read_text().count(" round ") for log in logs]
            wait_until(lambda: all(log.read_text().count(" round ") >= n + 2
                                   for log, n in zip(logs, rounds)), 30, "two more rounds of each")
    finally:
        smtp.stop()
        hooks.close()
    recipients, deliveries = Counter(inbox.to()), Counter(hooks.received)
    report("two-nodes-three-workers", {
        "calls": calls + 2 * recorded, "acknowledged": len(recipients) + len(deliveries),
        "lost": calls + 2 * recorded - len(recipients) - len(deliveries),
        "duplicated": sum(recipients.values()) - len(recipients)
        + sum(deliveries.values()) - len(deliveries)}, ARTIFACTS, exported=len(exported))
    assert set(recipients) == {f"m{t}.{i}@example.com" for t in range(THREADS)
                               for i in range(ROUNDS)}
    assert set(recipients.values()) == {1}
    assert len({message["Message-ID"] for message in inbox.messages}) == calls
    assert set(deliveries.values()) == {1}, deliveries.most_common(3)
    assert Counter(hooks.events) == {"response.completed": recorded, "contact.upsert": recorded}
    assert sorted(exported) == sorted(set(exported)) and len(exported) == recorded
    # The dump was written once, by one worker, into the bucket, and any node serves it.
    [dump] = setup.call("ListDumps", campaign_id=answered)["dumps"]
    assert dump == dumps[0] and dump["rows"] == recorded
    assert sum(log.read_text().count(" dumps=1 ") for log in logs) == 1
    assert sorted(name.rsplit("/", 1)[-1] for name in bucket_objects(node1.env)) == [
        dump["name"], dump["name"] + ".manifest.json"]
    for node in (node1, node2):
        body = requests.get(f"{node.url}/exports/files/{dump['name']}", auth=key, timeout=30)
        assert body.status_code == 200
        assert hashlib.sha256(body.content).hexdigest() == dump["sha256"]
    assert not any((tmp_path / "workers").rglob("*.csv*"))
