"""feedloop against bare baselines, side by side in one run: the harness of the speed targets.

Starts, under the gunicorn settings of `feedloop serve` (sync, 2 workers), feedloop
on SQLite and on a throwaway PostgreSQL and the baselines of bench/baselines.py,
then drives each pair with wrk, feedloop and its baseline interleaved (A, B, A, B,
...), every request unique (bench/load.lua). Every response is checked, rows are
counted in the database after each run and printed against the successes, and
each repetition is printed with its ratio, then the median.

    .venv/bin/python bench/run.py [--quick] [--only NAME ...] [--db sqlite|postgres]

--only takes words matched against the pair names (e.g. `soap`, `survey`, `read`),
or `bulk` (10,000-row AddRespondents, and single-row p99 under concurrent batches),
or `dump` (bench/dump.py, and `psql \\copy` for the PostgreSQL comparison).
Needs wrk (Debian: apt-get install wrk).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import xmlrpc.client
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
from server import SECRET_KEY, running_baseline, running_server  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from service.web.csrf import issue_csrf  # noqa: E402
from tests.e2e.doors import XmlRpcDoor  # noqa: E402

THREADS, CONNECTIONS = 2, 8
SOAP_HEADERS = ["Content-Type: text/xml; charset=utf-8"]
XMLRPC_HEADERS = ["Content-Type: text/xml"]
FORM_HEADERS = ["Content-Type: application/x-www-form-urlencoded"]
#: Prepared requests (one invitation each) made per run: enough for this many calls a second
#: (a run whose requests run out measures the file, not the server: it is flagged).
PREPARED_RATE = 3_000
PREPARE_BATCH = 5_000


def soap(operation: str, inner: str) -> str:
    return ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:tns="urn:feedloop:v1"><soapenv:Body><tns:{operation}>{inner}'
            f'</tns:{operation}></soapenv:Body></soapenv:Envelope>')


def fields(**values) -> str:
    return "".join(f"<tns:{name}>{value}</tns:{name}>" for name, value in values.items())


def rpc(method: str, struct: dict) -> str:
    return xmlrpc.client.dumps((struct,), method, encoding="utf-8").replace("\n", "")


def add_one_soap(campaign_id: int) -> str:
    return soap("AddRespondents", fields(campaign_id=campaign_id) + "<tns:respondents>" + fields(
        email="r{n}@example.com", event_id="{n}") + "</tns:respondents>")


def add_one_rpc(campaign_id: int) -> str:
    return rpc("feedloop.add_respondents", {"campaign_id": campaign_id, "respondents": [
        {"email": "r{n}@example.com", "event_id": "{n}"}]})


@dataclass
class Load:
    """One side of a pair: a server, a path, and the requests wrk sends there."""

    server: str
    path: str
    headers: list[str]
    template: str = ""           # a body with {n}, or...
    prepare: str = ""            # ...the kind of prepared request, one invitation each
    method: str = "POST"
    table: str = ""              # rows to count: one per success
    reads: str = ""              # a table that must not grow (read operations)


@dataclass
class Pair:
    name: str
    feedloop: Load
    baseline: Load
    target: float
    reps: list[dict] = field(default_factory=list)


@dataclass
class Fixture:
    """What the requests of one feedloop server need: its key, a campaign, open links."""

    base: str
    key: tuple[str, str]
    campaign_id: int = 0
    open_email: str = "open@example.com"
    open_token: str = ""
    auth: list[str] = field(default_factory=list)


def pairs_for(db: str, fx: Fixture) -> list[Pair]:
    """The pairs the targets name, on database ``db``."""
    feedloop, cid, auth = f"feedloop-{db}", fx.campaign_id, fx.auth
    soap_in = Load(f"spyne-insert-{db}", "/", SOAP_HEADERS, add_one_soap(cid), table="bench_rows")
    rpc_in = Load(f"xmlrpc-insert-{db}", "/", XMLRPC_HEADERS, add_one_rpc(cid), table="bench_rows")
    soap_bare = Load("spyne", "/", SOAP_HEADERS, add_one_soap(cid))
    rpc_bare = Load("xmlrpc", "/", XMLRPC_HEADERS, add_one_rpc(cid))
    soap_fl = SOAP_HEADERS + auth
    rpc_fl = XMLRPC_HEADERS + auth
    tracking = {"campaign_id": cid, "email": "t{n}@example.com", "event_id": "{n}"}
    open_link = {"campaign_id": cid, "email": fx.open_email, "event_id": "open-link"}
    # The same open link asked for without its event id: a read, no trigger repeated.
    open_again = {"campaign_id": cid, "email": fx.open_email}
    writes = [
        ("soap AddRespondents x1", Load(feedloop, "/soap", soap_fl, add_one_soap(cid),
                                        table="invitations"), soap_in),
        ("soap GetTrackingUrl new", Load(feedloop, "/soap", soap_fl, soap(
            "GetTrackingUrl", fields(**tracking)), table="invitations"), soap_in),
        ("soap RecordResponse", Load(feedloop, "/soap", soap_fl, prepare="soap-record",
                                     table="responses"), soap_in),
        ("xmlrpc add_respondents x1", Load(feedloop, "/xmlrpc", rpc_fl, add_one_rpc(cid),
                                           table="invitations"), rpc_in),
        ("xmlrpc get_tracking_url new", Load(feedloop, "/xmlrpc", rpc_fl, rpc(
            "feedloop.get_tracking_url", tracking), table="invitations"), rpc_in),
        ("xmlrpc record_response", Load(feedloop, "/xmlrpc", rpc_fl, prepare="rpc-record",
                                        table="responses"), rpc_in),
        ("survey page POST", Load(feedloop, "/", FORM_HEADERS, prepare="survey-post",
                                  table="responses"),
         Load(f"raw-insert-{db}", "/", FORM_HEADERS, "_csrf=x&nps=7&n={n}", table="bench_rows")),
    ]
    reads = [
        ("read soap GetCampaign", Load(feedloop, "/soap", soap_fl, soap(
            "GetCampaign", fields(campaign_id=cid))), soap_bare),
        ("read soap GetContactResults", Load(feedloop, "/soap", soap_fl, soap(
            "GetContactResults", fields(email=fx.open_email))), soap_bare),
        ("read soap GetTrackingUrl open", Load(feedloop, "/soap", soap_fl, soap(
            "GetTrackingUrl", fields(**open_link)), reads="invitations"), soap_bare),
        ("read soap GetTrackingUrl again", Load(feedloop, "/soap", soap_fl, soap(
            "GetTrackingUrl", fields(**open_again)), reads="invitations"), soap_bare),
        ("read xmlrpc get_campaign", Load(feedloop, "/xmlrpc", rpc_fl, rpc(
            "feedloop.get_campaign", {"campaign_id": cid})), rpc_bare),
        ("read xmlrpc get_contact_results", Load(feedloop, "/xmlrpc", rpc_fl, rpc(
            "feedloop.get_contact_results", {"email": fx.open_email})), rpc_bare),
        ("read xmlrpc get_tracking_url open", Load(feedloop, "/xmlrpc", rpc_fl, rpc(
            "feedloop.get_tracking_url", open_link), reads="invitations"), rpc_bare),
        ("read xmlrpc get_tracking_url again", Load(feedloop, "/xmlrpc", rpc_fl, rpc(
            "feedloop.get_tracking_url", open_again), reads="invitations"), rpc_bare),
        ("read survey page GET", Load(feedloop, f"/s/{fx.open_token}", [], "x", method="GET",
                                      reads="responses"), Load("raw", "/", [], "x", method="GET")),
    ]
    return [Pair(f"{name} [{db}]", a, b, 0.8) for name, a, b in writes] + \
        [Pair(f"{name} [{db}]", a, b, 0.5) for name, a, b in reads]


class Harness:
    def __init__(self, args, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.servers: dict[str, tuple[str, str | None]] = {}   # name -> (base, database URL)
        self.fixtures: dict[str, Fixture] = {}
        self.engines: dict[str, object] = {}
        self.runs = 0
        self.files = 0


    def start(self, stack: contextlib.ExitStack, needed: set[str]) -> None:
        postgres = None
        if any(name.endswith("-postgres") for name in needed):
            from tests.support.pgserver import PostgresServer
            postgres = stack.enter_context(PostgresServer())
        for name in sorted(needed):
            db = name.rsplit("-", 1)[1] if name.endswith(("-sqlite", "-postgres")) else None
            url = None
            if db == "postgres":
                url = postgres.create_database(name.replace("-", "_"))
            elif db == "sqlite":
                url = f"sqlite:///{self.workdir / name}.db"
            if name.startswith("feedloop-"):
                base, key, _ = stack.enter_context(running_server(db, database_url=url))
                self.fixtures[name] = self.fixture(base, key)
            else:
                base = stack.enter_context(running_baseline(name.removesuffix(f"-{db}"), url))
            self.servers[name] = (base, url)
            print(f"  started {name:<22} {base}", flush=True)

    def fixture(self, base: str, key: tuple[str, str]) -> Fixture:
        """A survey with one NPS question, a crm campaign, an opened link with a response."""
        fx = Fixture(base, key)
        token = base64.b64encode(f"{key[0]}:{key[1]}".encode()).decode()
        fx.auth = [f"Authorization: Basic {token}"]
        client = XmlRpcDoor.connect(base, key)
        survey = client.call("CreateSurvey", title="bench", language="en",
                             questions=[{"key": "nps", "type": "nps", "text": "Recommend?"}])
        fx.campaign_id = client.call("CreateCampaign", survey_id=survey["survey_id"], name="b",
                                     delivery="crm", quarantine_days=0)["campaign_id"]
        # The answered send first, so that the open link is the contact's latest send
        # (what GetTrackingUrl without an event id hands out again).
        answered = client.call("GetTrackingUrl", campaign_id=fx.campaign_id,
                               email=fx.open_email, event_id="answered")
        client.call("RecordResponse", invitation_id=answered["invitation_id"],
                    answers=[{"key": "nps", "value": "9"}])
        link = client.call("GetTrackingUrl", campaign_id=fx.campaign_id, email=fx.open_email,
                           event_id="open-link")
        fx.open_token = link["url"].rsplit("/", 1)[1]
        with urllib.request.urlopen(link["url"], timeout=30) as page:  # marks it opened
            assert page.status == 200
        return fx

    def count(self, server: str, table: str) -> int:
        url = self.servers[server][1]
        if server not in self.engines:
            self.engines[server] = create_engine(url)
        with self.engines[server].connect() as connection:
            return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


    def prepared_file(self, load: Load, calls: int) -> Path:
        """A file of ``calls`` requests, each answering a fresh invitation once."""
        fx = self.fixtures[load.server]
        client = XmlRpcDoor.connect(fx.base, fx.key)
        self.files += 1
        tag = f"{load.prepare}-{self.files}"
        path = self.workdir / f"{tag}.txt"
        now = datetime.now(timezone.utc)
        with open(path, "w") as out:
            for start in range(0, calls, PREPARE_BATCH):
                count = min(PREPARE_BATCH, calls - start)
                results = client.call("AddRespondents", campaign_id=fx.campaign_id, respondents=[
                    {"email": f"{tag}-{start + i}@example.com"} for i in range(count)])["results"]
                assert all(r["status"] == "sent" for r in results), results[:3]
                for result in results:
                    out.write(self.prepared_line(load, result, now) + "\n")
        return path

    def prepared_line(self, load: Load, result: dict, now: datetime) -> str:
        if load.prepare == "soap-record":
            return "/soap\t" + soap("RecordResponse", "<tns:answers>" + fields(
                key="nps", value="7") + "</tns:answers>" + fields(
                invitation_id=result["invitation_id"]))
        if load.prepare == "rpc-record":
            return "/xmlrpc\t" + rpc("feedloop.record_response", {
                "invitation_id": result["invitation_id"],
                "answers": [{"key": "nps", "value": "7"}]})
        token = result["url"].rsplit("/", 1)[1]
        csrf = issue_csrf(SECRET_KEY.encode(), f"s:{token}", now)
        return f"/s/{token}\t_csrf={csrf}&nps=7"


    def wrk(self, load: Load, seconds: float, prepared: Path | None = None) -> dict:
        self.runs += 1
        base = self.servers[load.server][0]
        if prepared is None:
            body = self.workdir / f"template-{self.runs}.txt"
            body.write_text(load.template)
            mode, source = "template", body
        else:
            mode, source = "file", prepared
        before = self.count(load.server, load.table or load.reads) \
            if load.table or load.reads else None
        command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "60s",
                   "-s", str(BENCH / "load.lua"), base + load.path, "--", mode, str(source),
                   f"run{self.runs}", str(THREADS), load.method, *load.headers]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
        result = json.loads(lines[-1])
        result["rate"] = result["successes"] / result["seconds"]
        if before is not None:
            time.sleep(0.2)  # requests in flight when wrk stopped may still commit
            result["rows"] = self.count(load.server, load.table or load.reads) - before
            result["rows_expected"] = expected = result["successes"] if load.table else 0
            # wrk stops with up to one request per connection in flight, unanswered but served.
            slack = CONNECTIONS if expected else 0
            result["rows_agree"] = expected <= result["rows"] <= expected + slack
        return result


    def run_pair(self, pair: Pair) -> None:
        print(f"\n{pair.name}: {pair.feedloop.server}{pair.feedloop.path} vs "
              f"{pair.baseline.server} (target >= {pair.target}x)", flush=True)
        files = []
        if pair.feedloop.prepare:
            calls = int(PREPARED_RATE * self.args.seconds)
            files = [self.prepared_file(pair.feedloop, calls) for _ in range(self.args.reps)]
        for rep in range(self.args.reps):
            a = self.wrk(pair.feedloop, self.args.seconds, files[rep] if files else None)
            b = self.wrk(pair.baseline, self.args.seconds)
            ratio = a["rate"] / b["rate"] if b["rate"] else 0.0
            pair.reps.append({"feedloop": a, "baseline": b, "ratio": ratio})
            print(f"  rep {rep + 1}: feedloop {describe(a)}\n"
                  f"         baseline {describe(b)}\n         ratio {ratio:.3f}", flush=True)
        median = statistics.median(r["ratio"] for r in pair.reps)
        verdict = "met" if median >= pair.target else "NOT met"
        print(f"  median ratio {median:.3f} (target {pair.target}: {verdict})", flush=True)


def describe(run: dict) -> str:
    text_ = (f"{run['rate']:8.1f}/s  p50 {run['p50_ms']:7.1f} ms  p99 {run['p99_ms']:7.1f} ms  "
             f"ok {run['successes']}  failed {run['failures'] + run['socket_errors']}")
    if "rows" in run:
        text_ += f"  rows +{run['rows']} ({'agrees' if run['rows_agree'] else 'DISAGREES'})"
    if run["exhausted"]:
        text_ += "  [prepared requests ran out]"
    if run["failures"]:
        text_ += f"\n           first failure: {run['sample'][:200]}"
    return text_


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def wrk_or_exit() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/run.py needs wrk, the HTTP load generator. On Debian or Ubuntu, as root: "
                 "apt-get install wrk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions of 3 s a side, no dump")
    parser.add_argument("--only", nargs="*", default=[],
                        help="pairs whose name holds one of these words; or bulk, dump")
    parser.add_argument("--db", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--reps", type=int, help="repetitions of each pair (default 3)")
    parser.add_argument("--seconds", type=float, help="seconds of each side of a repetition")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    args.reps = args.reps or 3
    args.seconds = args.seconds or (3 if args.quick else 10)
    args.db = args.db or ["sqlite", "postgres"]
    wrk_or_exit()
    started = time.monotonic()
    print(f"bench/run.py {' '.join(sys.argv[1:])}\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC,"
          f" {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}\n"
          f"wrk -t{THREADS} -c{CONNECTIONS}, {args.reps} x {args.seconds:g} s per side\n"
          f"load before: {uptime()}", flush=True)
    report: dict = {"command": sys.argv, "before": uptime(), "pairs": {}}
    workdir = Path(tempfile.mkdtemp(prefix="feedloop-run-"))
    harness = Harness(args, workdir)
    words = [w for w in args.only if w not in ("bulk", "dump")]
    want_pairs = not args.only or bool(words)
    try:
        with contextlib.ExitStack() as stack:
            needed = {f"feedloop-{db}" for db in args.db}
            if want_pairs:
                needed |= {"raw", "spyne", "xmlrpc"} | {
                    f"{kind}-insert-{db}" for kind in ("raw", "spyne", "xmlrpc") for db in args.db}
            if want_pairs or "bulk" in args.only:
                print("starting servers", flush=True)
                harness.start(stack, needed)
            if want_pairs:
                pairs = [p for db in args.db for p in pairs_for(db, harness.fixtures[
                    f"feedloop-{db}"]) if not words or any(w in p.name for w in words)]
                for pair in pairs:
                    harness.run_pair(pair)
                    report["pairs"][pair.name] = {"target": pair.target, "reps": pair.reps}
                summary(pairs)
            if "bulk" in args.only or not args.only:
                report["bulk"] = run_bulk(harness, args)
        if "dump" in args.only or (not args.only and not args.quick):
            run_dump(args)
    finally:
        for engine in harness.engines.values():
            engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    report["after"] = uptime()
    print(f"\nload after: {report['after']}\nwall time {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))


def run_bulk(harness: Harness, args) -> dict:
    """10,000-row AddRespondents per door and database, then single-row p99 beside batches."""
    from bulk import HEADER, ROWS, print_bulk
    report: dict = {"bulk": [], "concurrent": []}
    print(f"\nAddRespondents with {ROWS:,} rows in one call, client time included, "
          f"{args.reps} repetitions a door, interleaved\n{HEADER}", flush=True)
    for db in args.db:
        fx = harness.fixtures[f"feedloop-{db}"]
        for door, rep, bulk, one in print_bulk(db, fx.base, fx.key, args.reps):
            report["bulk"].append({"db": db, "door": door, "repetition": rep,
                                   "seconds": bulk, "one_row": one})
    seconds = 10 if args.quick else 20
    for db in args.db:
        fx = harness.fixtures[f"feedloop-{db}"]
        server = f"feedloop-{db}"
        loads = {"soap AddRespondents x1": Load(server, "/soap", SOAP_HEADERS + fx.auth,
                                                add_one_soap(fx.campaign_id)),
                 "soap RecordResponse": Load(server, "/soap", SOAP_HEADERS + fx.auth,
                                             prepare="soap-record")}
        prepared = harness.prepared_file(loads["soap RecordResponse"], 5_000)
        print(f"\nsingle-row calls ({PROBES} clients, one call at a time each, every call "
              f"timed to its end) while {ROWS:,}-row XML-RPC batches run back to back [{db}], "
              f"{seconds:g} s each", flush=True)
        batches = Batches(fx, db)
        with batches:
            for name, load in loads.items():
                probe = Probe(harness.servers[server][0], load, prepared).run(seconds)
                report["concurrent"].append({"db": db, "call": name, **probe})
                failed = f"{probe['failures']} failed" + (
                    f": {probe['sample']}" if probe["sample"] else "")
                print(f"  {name:<24} {probe['calls']} calls, p50 {probe['p50_ms']:.0f} ms, "
                      f"p99 {probe['p99_ms']:.0f} ms, max {probe['max_ms']:.0f} ms, {failed}",
                      flush=True)
        times = [t for t, error in batches.done if not error]
        errors = [error for _, error in batches.done if error]
        report["concurrent"].append({"db": db, "batches": batches.done})
        print(f"  batches: {len(times)} done in {', '.join(f'{t:.1f}' for t in times)} s; "
              f"{len(errors)} failed{': ' + errors[0] if errors else ''}", flush=True)
    return report


#: Clients of the latency probe under concurrent batches.
PROBES = 4


class Probe:
    """Clients calling one at a time, each call timed to its end, however long it takes.

    wrk would drop the calls still queued behind a batch when its time is up, which are
    exactly the slow ones; here the last calls are waited for.
    """

    def __init__(self, base: str, load: Load, prepared: Path) -> None:
        self.host, self.port = base.removeprefix("http://").split(":")
        self.load = load
        self.lines = iter(prepared.read_text().splitlines()) if load.prepare else None
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def request(self, n: int) -> tuple[str, str]:
        if self.lines is None:
            return self.load.path, self.load.template.replace("{n}", f"probe{id(self)}-{n}")
        with self.lock:
            path, _, body = next(self.lines, "").partition("\t")
        return path, body

    def client(self, k: int, until: float) -> None:
        import http.client
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=300)
        headers = dict(h.split(": ", 1) for h in self.load.headers)
        n = 0
        while time.monotonic() < until:
            n += 1
            path, body = self.request(k * 1_000_000 + n)
            if not path:  # out of prepared links
                break
            started = time.perf_counter()
            connection.request("POST", path, body.encode(), headers)
            answer = connection.getresponse()
            data = answer.read()
            elapsed = time.perf_counter() - started
            with self.lock:
                self.latencies.append(elapsed)
                if answer.status != 200 or b"Fault" in data or b"<fault>" in data:
                    self.failures.append(f"{answer.status} {data[:200]!r}")
        connection.close()

    def run(self, seconds: float) -> dict:
        until = time.monotonic() + seconds
        clients = [threading.Thread(target=self.client, args=(k, until)) for k in range(PROBES)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        ordered = sorted(self.latencies)
        return {"calls": len(ordered), "p50_ms": percentile_ms(ordered, 0.5),
                "p99_ms": percentile_ms(ordered, 0.99), "max_ms": 1000 * ordered[-1],
                "failures": len(self.failures),
                "sample": self.failures[0] if self.failures else ""}


def percentile_ms(ordered: list[float], q: float) -> float:
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Batches:
    """10,000-row AddRespondents calls back to back in a thread, while the block runs."""

    def __init__(self, fx: Fixture, db: str) -> None:
        self.fx, self.db = fx, db
        self.done: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        from bulk import ROWS
        client = XmlRpcDoor.connect(self.fx.base, self.fx.key)
        while not self.stop.is_set():
            n = len(self.done)
            rows = [{"email": f"batch{n}-{i}-{self.db}@example.com", "event_id": f"b{n}-{i}"}
                    for i in range(ROWS)]
            started = time.perf_counter()
            try:
                client.call("AddRespondents", campaign_id=self.fx.campaign_id, respondents=rows)
                error = ""
            except Exception as failure:  # reported with the figures, not raised
                error = f"{type(failure).__name__}: {failure}"[:300]
            self.done.append((time.perf_counter() - started, error))

    def __enter__(self) -> "Batches":
        self.thread.start()
        time.sleep(1)  # the first batch is under way before the single calls start
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()


def run_dump(args) -> None:
    """bench/dump.py on SQLite, then on PostgreSQL (against psql \\copy), every format, the
    median of 3 interleaved repetitions."""
    rows = "100000" if args.quick else "1000000"
    print(f"\nbench/dump.py {rows} --postgres --repeat 3", flush=True)
    subprocess.run([sys.executable, str(BENCH / "dump.py"), rows, "--postgres", "--repeat", "3"],
                   check=True)


def summary(pairs: list[Pair]) -> None:
    """The pairs as a Markdown table: each repetition as feedloop/s / baseline/s = ratio."""
    reps = max(len(pair.reps) for pair in pairs)
    print("\n| pair (calls/s: feedloop / baseline = ratio) | "
          + " | ".join(f"rep {i + 1}" for i in range(reps)) + " | median | target |\n|---|"
          + "---|" * reps + "---:|---|")
    for pair in pairs:
        median = statistics.median(r["ratio"] for r in pair.reps)
        cells = " | ".join(f"{r['feedloop']['rate']:.0f} / {r['baseline']['rate']:.0f} = "
                           f"{r['ratio']:.2f}" for r in pair.reps)
        print(f"| {pair.name} | {cells} | **{median:.2f}** | ≥ {pair.target} "
              f"{'met' if median >= pair.target else 'not met'} |")
    failed = sum(r[side]["failures"] + r[side]["socket_errors"] for pair in pairs
                 for r in pair.reps for side in ("feedloop", "baseline"))
    disagreeing = sum(not r[side].get("rows_agree", True) for pair in pairs for r in pair.reps
                      for side in ("feedloop", "baseline"))
    print(f"\nfailed responses in all runs: {failed}; runs whose row count disagrees with "
          f"their successes: {disagreeing}")


if __name__ == "__main__":
    main()
