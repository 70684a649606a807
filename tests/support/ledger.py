"""An acknowledged-write ledger: client threads issue GetTrackingUrl calls with unique
event ids through both doors while a test breaks the server, and every answer is kept.

Each thread asks for links of one email, each call with a parameter of its own: a
repeat then makes a new invitation unless the event id is recognised (a link for the
same email and parameters would be reused whatever the event id).

A call is *acknowledged* when its answer is a success. After the fault, every call is
repeated with the same event id until it is acknowledged; then the database must hold
exactly one invitation per event id (none *duplicated*), and each call acknowledged
during the fault must still answer with the URL it was first given (none *lost*).
"""
from __future__ import annotations

import http.client
import itertools
import threading
import time
import xmlrpc.client
from base64 import b64encode
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

from lxml import etree

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:feedloop:v1"
#: Seconds a client waits for one answer: a killed worker's request fails at once, a
#: stuck one would be a bug of its own.
CALL_TIMEOUT = 20


@dataclass(frozen=True)
class Answer:
    kind: str            # "ok", a fault code ("Unavailable", "InternalError", ...) or "transport"
    url: str | None = None
    status: int | None = None
    retry_after: str | None = None


def _post(base_url: str, key: tuple[str, str], path: str, body: bytes,
          headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
    """The response and its body; the connection is closed whatever happens (one left
    to the garbage collector raises a ResourceWarning in whichever test runs next)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=CALL_TIMEOUT)
    credentials = b64encode(f"{key[0]}:{key[1]}".encode()).decode()
    try:
        connection.request("POST", path, body, {"Authorization": f"Basic {credentials}",
                                                "Connection": "close", **headers})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def tracking_url_soap(base_url: str, key: tuple[str, str], campaign_id: int, email: str,
                      call: str, event_id: str) -> Answer:
    """GetTrackingUrl through the SOAP door, reduced to an Answer."""
    body = (f'<s:Envelope xmlns:s="{ENV}" xmlns:f="{TNS}"><s:Body><f:GetTrackingUrl>'
            f"<f:campaign_id>{campaign_id}</f:campaign_id><f:email>{escape(email)}</f:email>"
            f"<f:params><f:name>call</f:name><f:value>{escape(call)}</f:value></f:params>"
            f"<f:event_id>{escape(event_id)}</f:event_id></f:GetTrackingUrl></s:Body>"
            "</s:Envelope>").encode()
    try:
        response, data = _post(base_url, key, "/soap", body,
                               {"Content-Type": "text/xml; charset=utf-8"})
    except (OSError, http.client.HTTPException):  # a process killed mid-answer: unacknowledged
        return Answer("transport")
    document = etree.fromstring(data)
    fault = document.find(f".//{{{ENV}}}Fault")
    if fault is not None:
        return Answer(fault.findtext("faultcode").split(".")[-1], status=response.status,
                      retry_after=response.getheader("Retry-After"))
    return Answer("ok", document.findtext(f".//{{{TNS}}}url"), response.status)


def tracking_url_xmlrpc(base_url: str, key: tuple[str, str], campaign_id: int, email: str,
                        call: str, event_id: str) -> Answer:
    """feedloop.get_tracking_url through the XML-RPC door, reduced to an Answer."""
    body = xmlrpc.client.dumps(({"campaign_id": campaign_id, "email": email, "event_id": event_id,
                                 "params": [{"name": "call", "value": call}]},),
                               "feedloop.get_tracking_url").encode()
    try:
        response, data = _post(base_url, key, "/xmlrpc", body, {"Content-Type": "text/xml"})
    except (OSError, http.client.HTTPException):  # a process killed mid-answer: unacknowledged
        return Answer("transport")
    if response.status != 200:
        return Answer("transport", status=response.status)
    try:
        (result,), _ = xmlrpc.client.loads(data)
    except xmlrpc.client.Fault as fault:
        return Answer(fault.faultString.partition(":")[0], status=response.status,
                      retry_after=response.getheader("Retry-After"))
    return Answer("ok", result["url"], response.status)


DOORS = (tracking_url_soap, tracking_url_xmlrpc)


@dataclass
class Ledger:
    """Every call of a run: its door, email and first answer, and what the repeats answered."""

    name: str
    base_url: Callable[[], str]
    key: tuple[str, str]
    campaign_id: int
    #: event id -> door, email, the call's own parameter
    calls: dict[str, tuple[Callable, str, str]] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)            # event id -> URL
    answers: list[tuple[float, Answer]] = field(default_factory=list)  # (call started, answer)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.lost: set[str] = set()
        self.first_acknowledged = 0

    def call(self, door: Callable, event_id: str, email: str, call: str) -> Answer:
        with self.lock:
            self.calls.setdefault(event_id, (door, email, call))
        started = time.monotonic()
        answer = door(self.base_url(), self.key, self.campaign_id, email, call, event_id)
        with self.lock:
            self.answers.append((started, answer))
            if answer.kind == "ok":
                self.acknowledged.setdefault(event_id, answer.url)
        return answer

    def load(self, threads: int) -> "Load":
        """Client threads calling until stopped, half of them on each door."""
        return Load(self, threads)

    def acknowledged_count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def settle(self, attempts: int = 20) -> None:
        """Repeat every call with its event id until it is acknowledged; then ask each
        acknowledged one again, which must answer with the URL it was first given."""
        first = dict(self.acknowledged)
        for event_id, (door, email, call) in self.calls.items():
            for _ in range(attempts):
                again = door(self.base_url(), self.key, self.campaign_id, email, call, event_id)
                if again.kind == "ok":
                    self.acknowledged.setdefault(event_id, again.url)
                    if first.get(event_id, again.url) != again.url:
                        self.lost.add(event_id)
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"{event_id} was never acknowledged: {again}")
        self.first_acknowledged = len(first)

    def figures(self, invitations_by_event: Counter) -> dict[str, int]:
        """calls, acknowledged (during the run), lost, duplicated, given the database's count of
        invitations per event id of this run."""
        missing = {e for e in self.acknowledged if invitations_by_event[e] == 0}
        duplicated = sum(n - 1 for e, n in invitations_by_event.items() if n > 1)
        stray = sum(n for e, n in invitations_by_event.items() if e not in self.calls)
        return {"calls": len(self.calls), "acknowledged": self.first_acknowledged,
                "lost": len(self.lost | missing), "duplicated": duplicated + stray}

    def report(self, figures: dict[str, int], artifacts: Path, **extra: object) -> str:
        """The figures and the answers by kind, as ``report`` writes them."""
        kinds = Counter(answer.kind for _, answer in self.answers)
        return report(self.name, figures, artifacts, answers=",".join(
            f"{k}:{v}" for k, v in sorted(kinds.items())), **extra)


def report(name: str, figures: dict[str, object], artifacts: Path, **extra: object) -> str:
    """One line of a fault test's figures, printed (pytest -s shows it) and appended to
    fault-ledgers.txt in the artifacts directory."""
    line = f"ledger {name}: " + " ".join(f"{k}={v}" for k, v in {**figures, **extra}.items())
    print(line)
    artifacts.mkdir(parents=True, exist_ok=True)
    with open(artifacts / "fault-ledgers.txt", "a") as out:
        out.write(line + "\n")
    return line


class Load:
    """Client threads with unique event ids, alternating doors, until ``stop()``."""

    def __init__(self, ledger: Ledger, threads: int) -> None:
        self.ledger = ledger
        self.stopping = threading.Event()
        self.counter = itertools.count()
        self.threads = [threading.Thread(target=self._run, args=(DOORS[n % 2], n), daemon=True)
                        for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self, door: Callable, n: int) -> None:
        while not self.stopping.is_set():
            i = next(self.counter)
            answer = self.ledger.call(door, f"{self.ledger.name}-{n}-{i}",
                                      f"thread{n}@example.com", str(i))
            if answer.kind != "ok":
                time.sleep(0.05)  # a pause, not Retry-After's seconds: the test wants the recovery

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(CALL_TIMEOUT + 5)
