"""Profile one kind of call in process (no HTTP), on a fresh SQLite database.

    python bench/profile_call.py soap-add [--calls 500] [--top 30] [--no-profile] [--sql]
                                          [--lock] [--postgres]

Kinds: soap-add, rpc-add, soap-link, rpc-link, soap-campaign, and the reads of an
answered contact: rpc-campaign, soap-results, rpc-results, soap-open, rpc-open
(GetTrackingUrl of its invitation, already open), page-get (its survey page, which says
it was answered), page-open (the form of another opened link: what bench/run.py GETs); and
rpc-record, soap-record, page-post: a new link, then its answer (subtract rpc-link).

Prints the mean wall and CPU time per call (CPU time is what to compare on a busy
machine) and the part of that CPU time spent in the application (the rest is this
client's own encoding and parsing); then cProfile's top functions by cumulative time,
or with --sql the statements one call runs. A tool for finding where the time goes;
the figures that count come from bench/run.py.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
import xmlrpc.client
from datetime import datetime, timezone
from base64 import b64encode
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.config import Settings  # noqa: E402
from service.web.csrf import issue_csrf  # noqa: E402
from service.services.keys import create_account_key  # noqa: E402
from service.storage.migrations import upgrade  # noqa: E402
from service.wsgi import create_app  # noqa: E402

ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def soap(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{ENV}" '
            f'xmlns:f="urn:feedloop:v1"><s:Body>{body}</s:Body></s:Envelope>').encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--rows", type=int, default=1, help="respondents per add call")
    parser.add_argument("--sql", action="store_true", help="print the statements of one call")
    parser.add_argument("--postgres", action="store_true",
                        help="on a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--lock", action="store_true",
                        help="also time how long each call holds SQLite's write lock")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = None
        if args.postgres:
            from tests.support.pgserver import PostgresServer
            url = stack.enter_context(PostgresServer()).create_database("profile")
        profile(args, url)


def profile(args, database_url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(database_url=database_url or f"sqlite:///{tmp / 'db.sqlite'}",
                        base_url="http://127.0.0.1:8000", secret_key=b"k", smtp_url="",
                        data_dir=tmp)
    app = create_app(settings)
    upgrade(app.engine)
    key = create_account_key(app.runtime, "bench", ["admin"])
    auth = "Basic " + b64encode(f"{key.key_id}:{key.secret}".encode()).decode()

    server_cpu = [0.0]   # the application's own CPU time, without the client's

    def post(path: str, data: bytes, content_type: str = "text/xml", extra=None,
             method: str = "POST") -> bytes:
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
                   "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(data)),
                   "wsgi.input": io.BytesIO(data), "HTTP_AUTHORIZATION": auth,
                   "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "8000", "wsgi.url_scheme": "http",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": sys.stderr}
        environ.update(extra or {})
        status = []
        started = time.process_time()
        body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
        server_cpu[0] += time.process_time() - started
        assert status[0].startswith("200"), (status, body[:500])
        return body

    rpc = lambda method, **f: xmlrpc.client.loads(post("/xmlrpc", xmlrpc.client.dumps(
        (f,), method).encode()))[0][0]
    survey = rpc("feedloop.create_survey", title="t", language="en", questions=[
        {"key": "nps", "type": "nps", "required": True, "text": "How likely?"}])
    campaign = rpc("feedloop.create_campaign", survey_id=survey["survey_id"], name="c")
    cid = campaign["campaign_id"]
    counter = iter(range(10**9))
    opened = rpc("feedloop.get_tracking_url", campaign_id=cid, email="open@example.com",
                 event_id="open")
    rpc("feedloop.record_response", invitation_id=opened["invitation_id"],
        answers=[{"key": "nps", "value": "9"}])
    form_path = "/s/" + rpc("feedloop.get_tracking_url", campaign_id=cid,
                            email="form@example.com", event_id="form")["url"].rsplit("/", 1)[1]
    post(form_path, b"", method="GET")  # its first opening, the one that writes
    reads = {
        "page-open": lambda: post(form_path, b"", method="GET"),
        "rpc-campaign": lambda: rpc("feedloop.get_campaign", campaign_id=cid),
        "soap-results": lambda: post("/soap", soap(
            "<f:GetContactResults><f:email>open@example.com</f:email></f:GetContactResults>")),
        "rpc-results": lambda: rpc("feedloop.get_contact_results", email="open@example.com"),
        "soap-open": lambda: post("/soap", soap(
            f"<f:GetTrackingUrl><f:campaign_id>{cid}</f:campaign_id>"
            "<f:email>open@example.com</f:email></f:GetTrackingUrl>")),
        "rpc-open": lambda: rpc("feedloop.get_tracking_url", campaign_id=cid,
                                email="open@example.com"),
        "page-get": lambda: post("/s/" + opened["url"].rsplit("/", 1)[1], b"", method="GET"),
    }

    def new_link(n: int) -> dict:
        return rpc("feedloop.get_tracking_url", campaign_id=cid, email=f"r{n}@example.com",
                   event_id=f"r{n}")

    def page_post(n: int) -> None:
        token = new_link(n)["url"].rsplit("/", 1)[1]
        form = f"_csrf={issue_csrf(b'k', f's:{token}', datetime.now(timezone.utc))}&nps=7"
        post("/s/" + token, form.encode(), "application/x-www-form-urlencoded")

    writes = {
        "rpc-record": lambda n: rpc("feedloop.record_response", answers=[
            {"key": "nps", "value": "7"}], invitation_id=new_link(n)["invitation_id"]),
        "soap-record": lambda n: post("/soap", soap(
            "<f:RecordResponse><f:answers><f:key>nps</f:key><f:value>7</f:value></f:answers>"
            f"<f:invitation_id>{new_link(n)['invitation_id']}</f:invitation_id>"
            "</f:RecordResponse>")),
        "page-post": page_post,
    }

    def call() -> None:
        n = next(counter)
        if args.kind in reads:
            reads[args.kind]()
        elif args.kind in writes:
            writes[args.kind](n)
        elif args.kind == "soap-add":
            rows = "".join(f"<f:respondents><f:email>p{n}.{i}@example.com</f:email>"
                           f"<f:event_id>e{n}.{i}</f:event_id></f:respondents>"
                           for i in range(args.rows))
            post("/soap", soap(f"<f:AddRespondents><f:campaign_id>{cid}</f:campaign_id>{rows}"
                               "</f:AddRespondents>"))
        elif args.kind == "rpc-add":
            rpc("feedloop.add_respondents", campaign_id=cid,
                respondents=[{"email": f"p{n}.{i}@example.com", "event_id": f"e{n}.{i}", "params": [{"name": "ticket", "value": str(i)}]}
                             for i in range(args.rows)])
        elif args.kind == "soap-link":
            post("/soap", soap(f"<f:GetTrackingUrl><f:campaign_id>{cid}</f:campaign_id>"
                               f"<f:email>p{n}@example.com</f:email>"
                               f"<f:event_id>e{n}</f:event_id></f:GetTrackingUrl>"))
        elif args.kind == "rpc-link":
            rpc("feedloop.get_tracking_url", campaign_id=cid, email=f"p{n}@example.com",
                event_id=f"e{n}")
        elif args.kind == "soap-campaign":
            post("/soap", soap(f"<f:GetCampaign><f:campaign_id>{cid}</f:campaign_id>"
                               "</f:GetCampaign>"))
        else:
            raise SystemExit(f"unknown kind {args.kind}")

    for _ in range(20 if args.rows == 1 else 1):
        call()
    if args.sql:
        from sqlalchemy import event
        seen: list[str] = []
        event.listen(app.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *rest: seen.append(statement))
        call()
        print("\n".join(f"{n}. {s}" for n, s in enumerate(seen, 1)))
        return
    held: list[float] = []
    if args.lock:   # timed from SQLite's BEGIN IMMEDIATE to the connection's return
        from sqlalchemy import event
        from service.storage.engine import READ_ONLY
        begun: list[float] = []
        begin = app.engine.dialect.do_begin

        def timed_begin(dbapi_connection) -> None:
            begin(dbapi_connection)
            if not dbapi_connection.info.get(READ_ONLY):
                begun.append(time.perf_counter())
        app.engine.dialect.do_begin = timed_begin

        @event.listens_for(app.engine, "checkin")   # a pool event: statements keep their path
        def _checkin(*_args) -> None:
            if begun:
                held.append(time.perf_counter() - begun.pop())
    profiler = cProfile.Profile()
    server_cpu[0] = 0.0
    started, cpu = time.perf_counter(), time.process_time()
    if not args.no_profile:
        profiler.enable()
    for _ in range(args.calls):
        call()
    profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{args.kind}: {elapsed / args.calls * 1000:.2f} ms per call, "
          f"{cpu / args.calls * 1000:.2f} ms CPU, "
          f"{server_cpu[0] / args.calls * 1000:.2f} ms of it in the application "
          f"({'profiled' if not args.no_profile else 'not profiled'})")
    if held:
        print(f"write lock held {sum(held) / args.calls * 1000:.3f} ms per call "
              f"({len(held)} write transactions, median "
              f"{sorted(held)[len(held) // 2] * 1000:.3f} ms each)")
    if not args.no_profile:
        out = io.StringIO()
        if "FEEDLOOP_PROFILE_OUT" in __import__("os").environ:
            profiler.dump_stats(__import__("os").environ["FEEDLOOP_PROFILE_OUT"])
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
