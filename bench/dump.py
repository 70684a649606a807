"""Dump 1,000,000 responses of a 10-question survey to CSV on SQLite, and 100,000 of them.

Prints rows/s and the peak RSS of `feedloop dump` for each size, and the ratio to
`sqlite3 -csv` exporting the same rows and answer columns in the same run; with
--postgres, on a throwaway PostgreSQL against `psql -c "\\copy (...) to stdout csv"`.
Run: .venv/bin/python bench/dump.py [ROWS] [--postgres]   (default 1,000,000)
"""
from __future__ import annotations

import contextlib
import json
import os
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


def timed(command: list[str], env: dict, stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process (wait4 gives its own rusage)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, command
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    postgres = "--postgres" in sys.argv[1:]
    sizes = [a for a in sys.argv[1:] if a != "--postgres"]
    total = int(sizes[0]) if sizes else 1_000_000
    workdir = Path(tempfile.mkdtemp(prefix="feedloop-dump-bench-"))
    db = workdir / "feedloop.db"
    with contextlib.ExitStack() as stack:
        if postgres:
            from tests.support.pgserver import PostgresServer
            url = stack.enter_context(PostgresServer()).create_database("dump")
        else:
            url = f"sqlite:///{db}"
        measure(url, workdir, total)


def measure(url: str, workdir: Path, total: int) -> None:
    env = {**os.environ, "FEEDLOOP_DATABASE_URL": url, "FEEDLOOP_SECRET_KEY": "b"}
    engine = make_engine(url)
    upgrade(engine)
    rt = Runtime(uow=lambda read_only=False: SqlUnitOfWork(engine, read_only), secret_key=b"b",
                 base_url="http://x")
    started = time.perf_counter()
    campaign_id = populate(rt, engine, total)
    engine.dispose()
    postgres = engine.dialect.name == "postgresql"
    print(f"populated {total:,} responses on {engine.dialect.name} in "
          f"{time.perf_counter() - started:.0f} s ({os.cpu_count()} cores)")
    field = "{}->>'{}'" if postgres else "json_extract({}, '$.{}')"
    answers = ", ".join(field.format("r.answers", q.key) for q in QUESTIONS)
    for rows in (total // 10, total):
        after = total - rows
        out = workdir / f"dump-{rows}.csv"
        seconds, peak = timed([FEEDLOOP, "dump", "--campaign", str(campaign_id), "--after",
                               str(after), "--format", "csv", "--out", str(out)], env)
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
        with open(workdir / f"baseline-{rows}.csv", "wb") as handle:
            baseline, _ = timed(command, env, handle)
        for written in (out, workdir / f"baseline-{rows}.csv"):
            lines = sum(1 for _ in open(written, "rb")) - 1
            assert lines == rows, (written, lines, rows)
        print(f"{rows:>9,} rows: feedloop dump {seconds:6.1f} s = {rows / seconds:>8,.0f} rows/s, "
              f"peak RSS {peak:6.1f} MiB; {tool} {baseline:5.1f} s "
              f"= {rows / baseline:>9,.0f} rows/s; ratio {seconds / baseline:4.1f}x", flush=True)
    print(json.dumps({"workdir": str(workdir)}))


if __name__ == "__main__":
    main()
