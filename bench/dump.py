"""Dump 1,000,000 responses of a 10-question survey, and 100,000, to CSV, JSON Lines, XML.

On SQLite, then with --postgres on a throwaway PostgreSQL too: for each size the baseline
(`sqlite3 -csv`, or `psql -c "\\copy (...) to stdout csv"`, of the same rows and answer
columns), then `feedloop dump --format csv|jsonl|xml`, each with its wall time and peak
RSS, and the ratios the targets name: CSV against the baseline, JSON Lines and XML against
the CSV dump, the peak RSS of all the rows against that of the tenth. Ends with a Markdown
table. Run: .venv/bin/python bench/dump.py [ROWS] [--postgres] [--repeat N] [--formats ...]
(default 1,000,000 rows, every format).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service.services import Runtime, messages as m  # noqa: E402
from service.services.keys import authenticate, create_account_key  # noqa: E402
from service.domain.credentials import Credentials  # noqa: E402
from service.storage.engine import make_engine  # noqa: E402
from service.storage.migrations import upgrade  # noqa: E402
from service.storage.tables import accounts, contacts, responses  # noqa: E402
from service.storage.uow import SqlUnitOfWork  # noqa: E402
from tests.conftest import call  # noqa: E402
from tests.e2e.conftest import FEEDLOOP  # noqa: E402

QUESTIONS = [m.Question(key="nps", type="nps", text="Recommend?")] + [
    m.Question(key=f"r{i}", type="rating", text=f"Rating {i}") for i in range(1, 8)] + [
    m.Question(key="topic", type="single", text="Topic?", choices=["price", "speed", "staff"]),
    m.Question(key="comment", type="text", text="Comment?")]


def populate(rt, engine, total: int) -> int:
    key = create_account_key(rt, "bench", ["admin"])
    admin = authenticate(rt, Credentials(key.key_id, key.secret))
    survey_id = call(rt, admin, "CreateSurvey", title="bench", language="en",
                     questions=QUESTIONS).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="b").campaign_id
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        connection.execute(contacts.insert(), [
            {"account_id": 1, "email": f"person{i}@example.com", "crm_id": f"C{i}",
             "attributes": {"region": ["north", "south"][i % 2]}, "created_at": now,
             "updated_at": now} for i in range(10_000)])
    for start in range(0, total, 20_000):
        batch = [{"account_id": 1, "campaign_id": campaign_id, "contact_id": 1 + i % 10_000,
                  "answers": {"nps": i % 11, **{f"r{k}": 1 + (i + k) % 5 for k in range(1, 8)},
                              "topic": ["price", "speed", "staff"][i % 3],
                              "comment": f"comment number {i}, with a comma"},
                  "params": {"ticket": f"T-{i}"}, "extra_params": {}, "nps_score": i % 11,
                  "submitted_at": now, "updated_at": now, "change": "new", "position": i + 1}
                 for i in range(start, min(start + 20_000, total))]
        with engine.begin() as connection:
            connection.execute(responses.insert(), batch)
    with engine.begin() as connection:
        connection.execute(accounts.update().values(response_position=total))
    return campaign_id


FORMATS = ("csv", "jsonl", "xml")
#: What each measurement is held to: (the measurement it is compared with, the bound).
TARGETS = {"csv": ("baseline", 2.5), "jsonl": ("csv", 1.5), "xml": ("csv", 1.5)}
#: Peak RSS of a dump of all the rows against one of a tenth of them.
RSS_TARGET = 1.10


#: Runs a command and reports its peak RSS (KiB). Linux keeps the peak RSS of a process
#: image replaced by exec, and a child forked from this process starts with this
#: process's pages: wait4 here would report this process's size for any smaller command
#: (the 137-150 MiB "flat" figures of earlier runs). Spawned from this small interpreter
#: instead, a command's figure is its own, or about 14 MiB when it is smaller than that.
PEAK_RSS = ("import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)")


def timed(command: list[str], env: dict, stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], env=env, stdout=stdout,
                          stderr=subprocess.PIPE, check=True, text=True)
    return time.perf_counter() - started, int(done.stderr.split()[-1]) / 1024


def load() -> str:
    return ", ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true",
                        help="measure on a throwaway PostgreSQL too, after SQLite")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help="the formats to dump, comma-separated (default: all)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="interleaved repetitions of the baseline and each format; the "
                             "table gives the median time and the median of the ratios")
    args = parser.parse_args()
    formats = args.formats.split(",")
    assert set(formats) <= set(FORMATS), formats
    workdir = Path(tempfile.mkdtemp(prefix="feedloop-dump-bench-"))
    print(f"{args.rows:,} responses, {os.cpu_count()} cores, load average {load()}", flush=True)
    results = measure(f"sqlite:///{workdir / 'feedloop.db'}", workdir, args.rows, formats,
                      args.repeat)
    if args.postgres:
        from tests.support.pgserver import PostgresServer
        with PostgresServer() as server:
            results += measure(server.create_database("dump"), workdir, args.rows, formats,
                               args.repeat)
    print(f"load average {load()}\n")
    table(results)
    print(json.dumps({"workdir": str(workdir)}))


def measure(url: str, workdir: Path, total: int, formats: list[str],
            repeat: int) -> list[dict]:
    """The baseline and each format's dump of the last tenth of the rows, then of all, in
    turn ``repeat`` times (a shared machine's load then weighs on each alike)."""
    env = {**os.environ, "FEEDLOOP_DATABASE_URL": url, "FEEDLOOP_SECRET_KEY": "b"}
    engine = make_engine(url)
    upgrade(engine)
    rt = Runtime(uow=lambda read_only=False: SqlUnitOfWork(engine, read_only), secret_key=b"b",
                 base_url="http://x")
    started = time.perf_counter()
    campaign_id = populate(rt, engine, total)
    engine.dispose()
    postgres = engine.dialect.name == "postgresql"
    database = "PostgreSQL" if postgres else "SQLite"
    print(f"populated {total:,} responses on {database} in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    field = "{}->>'{}'" if postgres else "json_extract({}, '$.{}')"
    answers = ", ".join(field.format("r.answers", q.key) for q in QUESTIONS)
    results = []
    for rows in (total // 10, total):
        after = total - rows
        query = (f"SELECT r.id, r.position, r.change, r.submitted_at, r.updated_at, "
                 f"r.invitation_id, c.email, c.crm_id, r.nps_score, {answers}, "
                 f"{field.format('r.params', 'ticket')}, "
                 f"{field.format('c.attributes', 'region')} "
                 f"FROM responses r LEFT JOIN contacts c ON c.id = r.contact_id "
                 f"WHERE r.campaign_id = {campaign_id} AND r.position > {after} "
                 f"ORDER BY r.position")
        if postgres:
            tool = "psql \\copy"
            command = ["psql", "-X", "-q", url.replace("+psycopg", ""), "-c",
                       f"\\copy ({query}) to stdout csv header"]
        else:
            tool = "sqlite3 -csv"
            command = ["sqlite3", "-csv", "-header", url.removeprefix("sqlite:///"), query]
        baseline = workdir / f"baseline-{rows}.csv"
        runs: dict[str, list[tuple[float, float]]] = {"baseline": [], **{f: [] for f in formats}}
        for _ in range(repeat):
            with open(baseline, "wb") as handle:
                runs["baseline"].append(timed(command, env, handle))
            assert lines(baseline) == rows + 1, (baseline, rows)
            for fmt in formats:
                out = workdir / f"dump-{rows}.{fmt}"
                runs[fmt].append(timed([FEEDLOOP, "dump", "--campaign", str(campaign_id),
                                        "--after", str(after), "--format", fmt, "--out",
                                        str(out)], env))
                manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
                assert manifest["rows"] == rows, (out, manifest["rows"], rows)
                if fmt != "xml":  # CSV has a header line, JSON Lines a line per response
                    assert lines(out) == rows + (fmt == "csv"), (out, rows)
        for what, label in [("baseline", tool),
                            *((f, f"feedloop dump --format {f}") for f in formats)]:
            results.append(report(database, rows, what, label, runs, results))
    return results


def lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def report(database: str, rows: int, what: str, label: str,
           runs: dict[str, list[tuple[float, float]]], earlier: list[dict]) -> dict:
    """One command's repetitions: the median time, the highest peak RSS and the median of
    the ratios its targets name (each repetition against the same one of the other)."""
    seconds = [s for s, _ in runs[what]]
    peak = max(p for _, p in runs[what])
    result = {"database": database, "rows": rows, "what": what, "label": label,
              "seconds": statistics.median(seconds), "peak": peak, "ratio": "", "rss": ""}
    if what in TARGETS:
        against, bound = TARGETS[what]
        if against in runs:
            ratio = statistics.median(s / a for s, (a, _) in zip(seconds, runs[against]))
            result["ratio"] = (f"{ratio:.2f}x {against} (target <= {bound}x: "
                               f"{'met' if ratio <= bound else 'NOT met'})")
        tenth = {(r["database"], r["rows"], r["what"]): r for r in earlier}.get(
            (database, rows // 10, what))
        if tenth is not None:
            growth = peak / tenth["peak"]
            result["rss"] = (f"{growth:.2f}x {rows // 10:,} rows (target <= {RSS_TARGET}x: "
                             f"{'met' if growth <= RSS_TARGET else 'NOT met'})")
    print(f"{database} {rows:>9,} rows: {label:<28} {result['seconds']:6.1f} s "
          f"({' / '.join(f'{s:.1f}' for s in seconds)}) = "
          f"{rows / result['seconds']:>9,.0f} rows/s, peak RSS {peak:6.1f} MiB  "
          f"{result['ratio']}  {result['rss']}", flush=True)
    return result


def table(results: list[dict]) -> None:
    print("| database | rows | command | time | rows/s | peak RSS | ratio | peak RSS against "
          "the tenth |\n|---|---:|---|---:|---:|---:|---|---|")
    for r in results:
        print(f"| {r['database']} | {r['rows']:,} | {r['label']} | {r['seconds']:.1f} s | "
              f"{r['rows'] / r['seconds']:,.0f} | {r['peak']:.1f} MiB | {r['ratio']} | "
              f"{r['rss']} |")


if __name__ == "__main__":
    main()
