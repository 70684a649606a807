"""AddRespondents with 10,000 rows through SOAP and XML-RPC, on SQLite and PostgreSQL.

Prints the wall time of one 10,000-row call per door, client and backend, rows per
second, and the ratio to 10,000 x the time of a 1-row call measured in the same
run (how much the bulk path saves). The calls timed are the client libraries' own, as
an integrator's code makes them: SOAP through PHP's SoapClient (bench/clients/php_bulk.php,
ext/soap in C, as PHP, Java and .NET integrators' stacks are compiled) and through zeep
(pure Python, whose own encoding and decoding of 10,000 rows takes about 0.85 s on the
project machine), XML-RPC through xmlrpc.client's ServerProxy; their answers are checked
after the clock stops. Run: .venv/bin/python bench/bulk.py
"""
from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

from server import running_server

from tests.e2e.doors import SoapDoor, XmlRpcDoor

ROWS = 10_000
SINGLES = 30
PHP_BULK = Path(__file__).with_name("clients") / "php_bulk.php"


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def add_respondents(client, campaign_id: int, rows: list[dict]):
    """AddRespondents through the client library itself (not the tests' wrapper, which
    converts every result to plain dicts afterwards)."""
    if isinstance(client, SoapDoor):
        return client.client.service.AddRespondents(campaign_id=campaign_id, respondents=rows)
    return client.proxy.feedloop.add_respondents({"campaign_id": campaign_id,
                                                  "respondents": rows})


def invited(result) -> int:
    get = result.get if isinstance(result, dict) else lambda name: getattr(result, name)
    return get("sent") + get("scheduled")


def bulk_figures(base: str, key: tuple[str, str], backend: str):
    """Per door and client: (name, seconds of one 10,000-row call, median seconds of a
    1-row call)."""
    yield ("soap-php", *php_figures(base, key, new_campaign(XmlRpcDoor.connect(base, key)),
                                    f"{backend}-php"))
    for door in (SoapDoor, XmlRpcDoor):
        client = door.connect(base, key)
        cid = new_campaign(client)
        tag = f"{backend}-{door.__name__}"
        one = statistics.median(timed(lambda i=i: add_respondents(
            client, cid, [{"email": f"single{i}-{tag}@example.com"}])) for i in range(SINGLES))
        rows = [{"email": f"p{i}-{tag}@example.com", "event_id": f"{tag}-{i}",
                 "params": [{"name": "ticket", "value": str(i)}]} for i in range(ROWS)]
        answers = []
        bulk = timed(lambda: answers.append(add_respondents(client, cid, rows)))
        assert invited(answers[0]) == ROWS, invited(answers[0])
        yield {SoapDoor: "soap-zeep", XmlRpcDoor: "xmlrpc"}[door], bulk, one


def new_campaign(client) -> int:
    survey = client.call("CreateSurvey", title="bench", language="en",
                         questions=[{"key": "nps", "type": "nps", "text": "?"}])
    return client.call("CreateCampaign", survey_id=survey["survey_id"], name="b")["campaign_id"]


def php_figures(base: str, key: tuple[str, str], campaign_id: int, tag: str):
    """(seconds of the 10,000-row call, median seconds of a 1-row call) through PHP's
    SoapClient, timed inside PHP around each call."""
    answer = subprocess.run(["php", str(PHP_BULK)], input=json.dumps({
        "wsdl": f"{base}/soap?wsdl", "login": key[0], "password": key[1],
        "campaign_id": campaign_id, "rows": ROWS, "singles": SINGLES, "tag": tag}),
        capture_output=True, text=True, check=True, timeout=300)
    figures = json.loads(answer.stdout)
    assert figures["invited"] == figures["results"] == ROWS, answer.stdout[:300]
    return figures["seconds"], statistics.median(figures["singles"])


def print_bulk(backend: str, base: str, key: tuple[str, str]) -> None:
    for door, bulk, one in bulk_figures(base, key, backend):
        print(f"{backend:<9} {door:<9} {bulk:>10.2f} {ROWS / bulk:>8.0f} {1000 * one:>9.1f} "
              f"{ROWS * one / bulk:>18.1f}", flush=True)


HEADER = (f"{'backend':<9} {'door':<9} {'10k rows s':>10} {'rows/s':>8} {'1-row ms':>9} "
          f"{'10k x 1-row / bulk':>18}")


def main() -> None:
    print(HEADER)
    for backend in ("sqlite", "postgres"):
        with running_server(backend) as (base, key, _):
            print_bulk(backend, base, key)


if __name__ == "__main__":
    main()
