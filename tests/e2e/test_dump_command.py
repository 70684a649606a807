"""`feedloop dump`: complete files with a manifest, or no file and no moved cursor."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from service.cli import main
from service.config import Settings
from service.services import Runtime
from service.services import messages as m
from service.services.dumps import plan_dump, operator_principal
from service.services.keys import create_account_key, authenticate
from service.domain.credentials import Credentials
from service.storage.engine import make_engine
from service.storage.uow import units_of_work
from tests.conftest import call
from tests.e2e.conftest import FEEDLOOP
from tests.support.conditions import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded(tmp_path, monkeypatch, migrated_sqlite):
    """An embedded-default database with one campaign and ``n`` responses, as `feedloop` sees it."""
    monkeypatch.setenv("FEEDLOOP_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FEEDLOOP_SECRET_KEY", "s")
    monkeypatch.delenv("FEEDLOOP_DATABASE_URL", raising=False)
    settings = Settings.from_env()
    settings.data_dir.mkdir()
    shutil.copyfile(migrated_sqlite, settings.data_dir / "feedloop.db")
    engine = make_engine(settings.database_url)
    rt = Runtime(uow=units_of_work(engine), secret_key=b"s",
                 base_url="http://x")
    key = create_account_key(rt, "acme", ["admin"])
    admin = authenticate(rt, Credentials(key.key_id, key.secret))
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c").campaign_id

    def answer(n: int) -> None:
        links = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
            m.Respondent(email=f"p{i}-{time.monotonic_ns()}@example.com") for i in range(n)])
        for link in links.results:
            call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
                 answers=[m.Answer("nps", "8")])

    yield rt, campaign_id, answer, tmp_path
    engine.dispose()


def cursor_of(rt, campaign_id, name="crm-nightly"):
    return plan_dump(rt, operator_principal(rt, campaign_id), campaign_id,
                     cursor_name=name).after


def test_complete_dump_writes_file_and_manifest_then_moves_the_cursor(embedded, capsys):
    rt, campaign_id, answer, tmp = embedded
    answer(5)
    out = tmp / "nightly.csv.gz"
    assert main(["dump", "--campaign", str(campaign_id), "--cursor", "crm-nightly",
                 "--format", "csv", "--gzip", "--out", str(out)]) == 0
    manifest = json.loads((tmp / "nightly.csv.gz.manifest.json").read_text())
    assert manifest["rows"] == 5 and manifest["cursor_from"] == "0"
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert (manifest["file"], manifest["format"], manifest["gzip"], manifest["cursor_name"],
            manifest["size"]) == ("nightly.csv.gz", "csv", True, "crm-nightly",
                                  out.stat().st_size)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["created_at"])
    assert cursor_of(rt, campaign_id) == int(manifest["cursor_to"])
    answer(2)
    second = tmp / "next.jsonl"
    main(["dump", "--campaign", str(campaign_id), "--cursor", "crm-nightly", "--format",
          "jsonl", "--out", str(second)])
    assert len(second.read_text().splitlines()) == 2


def test_failure_half_way_leaves_no_file_and_no_moved_cursor(embedded, monkeypatch, capsys):
    rt, campaign_id, answer, tmp = embedded
    answer(5)
    from service.services.dumps import dump_rows

    def failing(rt, plan, fmt):
        yield from list(dump_rows(rt, plan, fmt))[:2]
        raise OSError("disk full")

    monkeypatch.setattr("service.services.dumps.dump_rows", failing)
    out = tmp / "nightly.csv"
    assert main(["dump", "--campaign", str(campaign_id), "--cursor", "crm-nightly",
                 "--format", "csv", "--out", str(out)]) == 1
    assert capsys.readouterr().err == "feedloop: disk full; check the paths and permissions it names\n"
    assert sorted(p.name for p in tmp.iterdir()) == ["var"]
    assert cursor_of(rt, campaign_id) == 0


def bulk_responses(rt, campaign_id: int, n: int) -> None:
    """n responses written straight into the table, faster than through the service."""
    from datetime import datetime, timezone

    from service.storage.tables import accounts, responses
    now = datetime.now(timezone.utc)
    with rt.uow() as uow:
        uow.connection.execute(responses.insert(), [
            {"account_id": 1, "campaign_id": campaign_id, "answers": {"nps": i % 11},
             "params": {}, "extra_params": {}, "nps_score": i % 11, "submitted_at": now,
             "updated_at": now, "change": "new", "position": i + 1} for i in range(n)])
        uow.connection.execute(accounts.update().values(response_position=n))
        uow.commit()


def unnamed_file_written(pid: int, directory: Path) -> bool:
    """True once process ``pid`` holds an unnamed (O_TMPFILE) file in ``directory`` with data.

    The kernel shows such a file as "<directory>/#<inode> (deleted)" among the open files.
    """
    fds = Path(f"/proc/{pid}/fd")
    try:
        for fd in fds.iterdir():
            target = os.readlink(fd)
            if target.startswith(f"{directory}/#") and fd.stat().st_size > 0:
                return True
    except FileNotFoundError:  # the process or that descriptor has just gone
        return False
    return False


def test_killed_dump_leaves_no_file_not_even_a_temporary_one(embedded):
    rt, campaign_id, _, tmp = embedded
    # about a second of writing here: the kill comes within milliseconds of the first bytes
    bulk_responses(rt, campaign_id, 20_000)
    out = tmp / "big.xml"
    process = subprocess.Popen([FEEDLOOP, "dump", "--campaign", str(campaign_id), "--cursor",
                                "crm-nightly", "--format", "xml", "--out", str(out)],
                               env=os.environ.copy(), stderr=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL)
    wait_until(lambda: process.poll() is not None
               or unnamed_file_written(process.pid, tmp.resolve()), 60,
               "the dump to write its first bytes")
    assert process.poll() is None, "the dump finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert sorted(p.name for p in tmp.iterdir()) == ["var"]
    assert cursor_of(rt, campaign_id) == 0


def test_a_dump_through_a_lagging_replica_ends_where_it_is_and_the_next_carries_on(
        embedded, capsys, monkeypatch):
    rt, campaign_id, answer, tmp = embedded
    primary, replica = tmp / "var" / "feedloop.db", tmp / "replica.db"

    def replicate() -> None:
        with contextlib.closing(sqlite3.connect(primary)) as source, \
                contextlib.closing(sqlite3.connect(replica)) as target:
            source.backup(target)

    monkeypatch.setenv("FEEDLOOP_REPLICA_DATABASE_URL", f"sqlite:///{replica}")
    answer(3)
    replicate()
    answer(2)                                       # not on the replica yet
    dumped = []
    for n in range(2):
        out = tmp / f"dump{n}.jsonl"
        assert main(["dump", "--campaign", str(campaign_id), "--cursor", "crm-nightly",
                     "--format", "jsonl", "--out", str(out)]) == 0
        dumped.append([json.loads(line)["response_id"] for line in out.read_text().splitlines()])
        replicate()                                 # the replica catches up
    assert [len(rows) for rows in dumped] == [3, 2]
    assert len(set(dumped[0] + dumped[1])) == 5     # none lost, none repeated


@pytest.mark.parametrize("fmt, gzipped", [("csv", True), ("jsonl", False), ("xml", False)])
def test_parts_written_by_other_processes_make_the_file_one_process_makes(
        embedded, monkeypatch, capsys, fmt, gzipped):
    rt, campaign_id, _, tmp = embedded
    bulk_responses(rt, campaign_id, 3_000)
    monkeypatch.setattr("service.cli.PARALLEL_DUMP_ROWS", 1_000)
    made = {}
    for jobs in (1, 3):
        out = tmp / f"jobs-{jobs}.{fmt}"
        assert main(["dump", "--campaign", str(campaign_id), "--format", fmt, "--out", str(out),
                     "--jobs", str(jobs), *(["--gzip"] if gzipped else [])]) == 0
        manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
        assert manifest["rows"] == 3_000
        assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
        made[jobs] = out.read_bytes()
    assert made[1] == made[3]
    assert sorted(p.name for p in tmp.iterdir()) == sorted(
        ["var", f"jobs-1.{fmt}", f"jobs-1.{fmt}.manifest.json", f"jobs-3.{fmt}",
         f"jobs-3.{fmt}.manifest.json"])


def test_a_part_that_fails_fails_the_dump_leaving_no_file_and_no_moved_cursor(
        embedded, monkeypatch, capsys):
    rt, campaign_id, _, tmp = embedded
    bulk_responses(rt, campaign_id, 300)
    monkeypatch.setattr("service.cli.PARALLEL_DUMP_ROWS", 100)
    import service.cli as cli
    settings, real_runtime = Settings.from_env(), cli._runtime
    monkeypatch.setattr(cli, "_runtime", lambda: real_runtime(settings))   # this process's
    # The part's process (a new interpreter) opens what the environment names: nothing.
    monkeypatch.setenv("FEEDLOOP_DATA_DIR", str(tmp / "elsewhere"))
    assert main(["dump", "--campaign", str(campaign_id), "--cursor", "crm-nightly",
                 "--format", "csv", "--out", str(tmp / "nightly.csv"), "--jobs", "2"]) == 1
    assert capsys.readouterr().err == (
        f"feedloop: no database at {tmp / 'elsewhere' / 'feedloop.db'}: `feedloop serve` "
        "creates it on first start, or run `feedloop migrate` (or set FEEDLOOP_DATA_DIR)\n")
    assert sorted(p.name for p in tmp.iterdir()) == ["var"]
    assert cursor_of(rt, campaign_id) == 0


def test_a_dump_needs_one_process_at_least(embedded, capsys):
    _, campaign_id, _, tmp = embedded
    assert main(["dump", "--campaign", str(campaign_id), "--format", "csv",
                 "--out", str(tmp / "x.csv"), "--jobs", "0"]) == 1
    assert capsys.readouterr().err == "feedloop: --jobs must be 1 or more\n"
    assert sorted(p.name for p in tmp.iterdir()) == ["var"]


def test_killed_dump_writing_parts_in_other_processes_leaves_no_file_and_no_process(embedded):
    rt, campaign_id, _, tmp = embedded
    bulk_responses(rt, campaign_id, 120_000)   # over the size written in parts (100,000)
    out = tmp / "big.xml"
    process = subprocess.Popen([FEEDLOOP, "dump", "--campaign", str(campaign_id), "--cursor",
                                "crm-nightly", "--format", "xml", "--out", str(out),
                                "--jobs", "2"], env=os.environ.copy(),
                               stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def children() -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                               text=True).stdout.split()
        return [int(pid) for pid in found]

    # the parts' process (and the pool's helper) started, and the dump's first bytes written
    wait_until(lambda: process.poll() is not None or (
        children() and unnamed_file_written(process.pid, tmp.resolve())), 60,
        "the dump to start its parts and write its first bytes")
    assert process.poll() is None, "the dump finished before it could be interrupted"
    helpers = children()
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in helpers), 60,
               "the parts' processes to end without the dump")
    assert sorted(p.name for p in tmp.iterdir()) == ["var"]
    assert cursor_of(rt, campaign_id) == 0


def test_a_dump_that_fails_in_its_own_part_stops_the_processes_of_the_others(
        embedded, monkeypatch, capsys):
    rt, campaign_id, _, tmp = embedded
    bulk_responses(rt, campaign_id, 3_000)
    monkeypatch.setattr("service.cli.PARALLEL_DUMP_ROWS", 100)
    from service.services.dumps import dump_rows
    import service.cli as cli

    def failing(rt, plan, fmt):   # this process's own part: the others run elsewhere
        yield from list(dump_rows(rt, plan, fmt))[:2]
        raise OSError("disk full")

    ended = []

    def stop(process) -> None:
        real_stop(process)
        ended.append(process.exitcode)

    real_stop = cli._stop_part
    monkeypatch.setattr("service.services.dumps.dump_rows", failing)
    monkeypatch.setattr(cli, "_stop_part", stop)
    assert main(["dump", "--campaign", str(campaign_id), "--cursor", "crm-nightly",
                 "--format", "xml", "--out", str(tmp / "nightly.xml"), "--jobs", "3"]) == 1
    assert capsys.readouterr().err == "feedloop: disk full; check the paths and permissions it names\n"
    assert ended == [-signal.SIGTERM] * 2     # still starting when the dump gave up
    assert sorted(p.name for p in tmp.iterdir()) == ["var"]
    assert cursor_of(rt, campaign_id) == 0
