"""Metrics (Prometheus) and request ids, shared by every adapter.

Under `feedloop serve`, gunicorn_conf points PROMETHEUS_MULTIPROC_DIR at a directory
of its own before any worker imports this module, so each worker's counters live in
memory-mapped files that /metrics adds up. Per call the cost is one counter increment
and one histogram observation (no lock across processes).
"""
from __future__ import annotations

import os
import re
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from service.domain.errors import DomainError
from service.logs import REQUEST_ID, request_id

#: A caller's X-Request-Id is kept when it is a plain token (it goes into logs and faults).
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

CALLS = Counter("feedloop_calls_total", "API calls by door, operation and outcome "
                "(ok, or the fault code)", ["door", "operation", "outcome"])
CALL_SECONDS = Histogram("feedloop_call_seconds", "API call latency by door and operation",
                         ["door", "operation"])
FAULTS = Counter("feedloop_faults_total", "Faults answered, by door and code", ["door", "code"])
REQUESTS = Counter("feedloop_http_requests_total", "HTTP requests by route and status",
                   ["route", "status"])
REQUEST_SECONDS = Histogram("feedloop_http_request_seconds", "HTTP request duration, body "
                            "included, by route (/s/ and /o/ are survey pages, /exports/ dumps)",
                            ["route"])
WORKER_ROUNDS = Counter("feedloop_worker_rounds_total", "Worker rounds by outcome (ok, failed)",
                        ["outcome"])
WORKER_ITEMS = Counter("feedloop_worker_items_total", "What worker rounds did (sent, retry, "
                       "dead, delivered, ...)", ["kind"])
DUMP_SECONDS = Histogram("feedloop_dump_seconds", "Duration of dump runs by trigger",
                         ["trigger"], buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600))

def fault_reference() -> str:
    """The reference an internal-error fault gives the client: the request id when there is one,
    so the client's report leads straight to the request's log lines."""
    return request_id() or uuid.uuid4().hex[:12]


@contextmanager
def observe_call(door: str, operation: str) -> Iterator[None]:
    """Count and time one API call; a domain error counts as a fault with its code."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except DomainError as error:
        outcome = error.code
        raise
    except Exception:
        outcome = "InternalError"
        raise
    finally:
        CALL_SECONDS.labels(door, operation).observe(time.perf_counter() - started)
        CALLS.labels(door, operation, outcome).inc()
        if outcome != "ok":
            FAULTS.labels(door, outcome).inc()


def observe_request(route: str, app: Callable, environ: dict,
                    start_response: Callable) -> Iterable[bytes]:
    """Serve ``environ`` with ``app`` under a request id, counting and timing it by route.

    The id is the caller's X-Request-Id when it is a plain token, else a new one; it
    goes back in the response's X-Request-Id header, into log records and into
    internal-error fault references.
    """
    given = environ.get("HTTP_X_REQUEST_ID", "")
    rid = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex[:12]
    token = REQUEST_ID.set(rid)
    started = time.perf_counter()
    status = ["500"]

    def recording_start_response(status_line: str, headers: list, *exc_info):
        status[0] = status_line.split(" ", 1)[0]
        return start_response(status_line, [*headers, ("X-Request-Id", rid)], *exc_info)

    def finish() -> None:
        REQUESTS.labels(route, status[0]).inc()
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)

    try:
        body = app(environ, recording_start_response)
    except BaseException:
        finish()
        raise
    finally:
        REQUEST_ID.reset(token)
    return _Closing(body, rid, finish)


class _Closing:
    """The response body, streamed under the request id; finishing counts the request."""

    def __init__(self, body: Iterable[bytes], rid: str, finish: Callable[[], None]) -> None:
        self.body, self.rid, self.finish = body, rid, finish

    def __iter__(self) -> Iterator[bytes]:
        token = REQUEST_ID.set(self.rid)
        try:
            yield from self.body
        finally:
            REQUEST_ID.reset(token)

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.finish()


class BacklogCollector:
    """Gauges read from the database at scrape time: queues an operator watches."""

    def __init__(self, read_backlog: Callable) -> None:
        self.read_backlog = read_backlog

    def collect(self):
        backlog = self.read_backlog()
        yield GaugeMetricFamily("feedloop_outbox_pending", "Outbox deliveries waiting "
                                "(webhooks, CRM pushes, notification mails)",
                                value=backlog.outbox_pending)
        yield GaugeMetricFamily("feedloop_outbox_oldest_pending_seconds", "Age of the oldest "
                                "waiting outbox delivery (0 when none waits)",
                                value=backlog.outbox_oldest_seconds)
        yield GaugeMetricFamily("feedloop_invitations_due", "Invitation and reminder mails "
                                "due now and not sent yet", value=backlog.invitations_due)


class _ThisProcess:
    """The default registry's metrics, when not under gunicorn's multiprocess mode."""

    def collect(self):
        from prometheus_client import REGISTRY
        return REGISTRY.collect()


def render_metrics(read_backlog: Callable) -> bytes:
    """The exposition of every worker process's metrics plus the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(BacklogCollector(read_backlog))
    return generate_latest(registry)
