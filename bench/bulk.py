"""AddRespondents with 10,000 rows through SOAP and XML-RPC, on SQLite and PostgreSQL.

Prints the wall time of one 10,000-row call per door, client and backend, rows per
second, and the ratio to 10,000 x the time of a 1-row call measured in the same
run (how much the bulk path saves). The calls timed are the client libraries' own, as
an integrator's code makes them: SOAP through PHP's SoapClient (bench/clients/php_bulk.php,
ext/soap in C, as PHP, Java and .NET integrators' stacks are compiled) and through zeep
(pure Python, whose own encoding and decoding of 10,000 rows takes about 0.85 s on the
project machine), XML-RPC through xmlrpc.client's ServerProxy; their answers are checked
after the clock stops. Each door is measured --repeat times (3 by default), the doors
interleaved; every repetition is printed, then each door's median.
Run: .venv/bin/python bench/bulk.py [--repeat 3] [--db sqlite postgres]
"""
from __future__ import annotations

import argparse
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


def bulk_figures(base: str, key: tuple[str, str], backend: str, repeat: int = 1):
    """Per repetition, door and client, the doors interleaved: (name, repetition, seconds
    of one 10,000-row call, median seconds of a 1-row call)."""
    for rep in range(1, repeat + 1):
        yield ("soap-php", rep, *php_figures(base, key, new_campaign(
            XmlRpcDoor.connect(base, key)), f"{backend}-php-{rep}"))
        for door in (SoapDoor, XmlRpcDoor):
            client = door.connect(base, key)
            cid = new_campaign(client)
            tag = f"{backend}-{door.__name__}-{rep}"
            one = statistics.median(timed(lambda i=i: add_respondents(
                client, cid, [{"email": f"single{i}-{tag}@example.com"}]))
                for i in range(SINGLES))
            rows = [{"email": f"p{i}-{tag}@example.com", "event_id": f"{tag}-{i}",
                     "params": [{"name": "ticket", "value": str(i)}]} for i in range(ROWS)]
            answers = []
            bulk = timed(lambda: answers.append(add_respondents(client, cid, rows)))
            assert invited(answers[0]) == ROWS, invited(answers[0])
            yield {SoapDoor: "soap-zeep", XmlRpcDoor: "xmlrpc"}[door], rep, bulk, one


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


def print_bulk(backend: str, base: str, key: tuple[str, str], repeat: int) -> list[tuple]:
    """Each repetition's line as it is measured, then each door's median; the figures."""
    figures = list(_printed(backend, bulk_figures(base, key, backend, repeat)))
    print_medians(backend, figures)
    return figures


def _printed(backend: str, figures):
    for door, rep, bulk, one in figures:
        print(line(backend, f"{door} #{rep}", bulk, one), flush=True)
        yield door, rep, bulk, one


def print_medians(backend: str, figures: list[tuple]) -> None:
    for door in dict.fromkeys(door for door, *_ in figures):
        mine = [(bulk, one) for name, _, bulk, one in figures if name == door]
        print(line(backend, f"{door} med", statistics.median(b for b, _ in mine),
                   statistics.median(o for _, o in mine)), flush=True)


def line(backend: str, door: str, bulk: float, one: float) -> str:
    return (f"{backend:<9} {door:<14} {bulk:>10.2f} {ROWS / bulk:>8.0f} {1000 * one:>9.1f} "
            f"{ROWS * one / bulk:>18.1f}")


HEADER = (f"{'backend':<9} {'door':<14} {'10k rows s':>10} {'rows/s':>8} {'1-row ms':>9} "
          f"{'10k x 1-row / bulk':>18}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions per door, interleaved (the medians are the figures)")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(HEADER)
    for backend in args.db:
        with running_server(backend) as (base, key, _):
            print_bulk(backend, base, key, args.repeat)


if __name__ == "__main__":
    main()
