"""The `feedloop` command's commands, run in process through main() as an operator types them.

tests/e2e/test_command_line.py starts the installed command for real (first start, README).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import threading
from pathlib import Path

import pytest

from service import cli
from service.cli import main
from service.config import Settings, create_secret
from service.domain.credentials import Credentials
from service.logs import RequestIdFilter
from service.services import Runtime
from service.services import messages as m
from service.services.keys import authenticate, create_account_key
from service.storage.engine import make_engine
from service.storage.uow import units_of_work
from tests.conftest import call
from tests.support.conditions import wait_until

KEY_LINE = re.compile(r"^(fl_[0-9a-f]{16}):[A-Za-z0-9_-]{43}$", re.MULTILINE)
WSDL_FILE = Path(__file__).parents[2] / "wsdl" / "feedloop.wsdl"


@pytest.fixture
def var(monkeypatch, tmp_path) -> Path:
    """The embedded default's data dir, in an environment with no FEEDLOOP_* variable set."""
    for name in [name for name in os.environ if name.startswith("FEEDLOOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDLOOP_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


@pytest.fixture
def migrated(var, migrated_sqlite) -> Path:
    """The data dir as `feedloop migrate` leaves it: the database and its secret key."""
    var.mkdir()
    shutil.copyfile(migrated_sqlite, var / "feedloop.db")
    create_secret(var)
    return var


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_without_a_command_the_usage_is_printed_and_the_status_is_2(capsys):
    status, out, _ = run(capsys)
    assert status == 2 and out.startswith("usage: feedloop") and "keys" in out


def test_keys_create_prints_the_key_alone_on_its_last_line(migrated, capsys):
    status, out, _ = run(capsys, "keys", "create", "--account", "Acme Corp", "--scope",
                         "trigger", "--scope", "read", "--expires-days", "30")
    assert status == 0
    first, last = out.strip().splitlines()
    assert KEY_LINE.fullmatch(last)
    assert first.startswith("account Acme Corp: key ") and "with scopes trigger read" in first
    assert re.search(r", expires \d{4}-\d\d-\d\d \(the secret is shown once\)$", first)


def test_a_revoked_key_is_listed_only_with_all(migrated, capsys):
    run(capsys, "keys", "create", "--account", "acme", "--scope", "admin")
    _, out, _ = run(capsys, "keys", "create", "--account", "acme", "--scope", "read")
    key_id = KEY_LINE.search(out).group(1)
    status, out, _ = run(capsys, "keys", "revoke", "--account", "acme", key_id)
    assert status == 0 and re.fullmatch(
        rf"revoked {key_id} at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n", out)
    assert key_id not in run(capsys, "keys", "list", "--account", "acme")[1]
    listing = run(capsys, "keys", "list", "--account", "acme", "--all")[1]
    [row] = [line for line in listing.splitlines() if line.startswith(key_id)]
    assert row.split()[1:4] == ["read", "revoked", "never"]


def test_an_unknown_account_is_an_error_on_standard_error(migrated, capsys):
    status, out, err = run(capsys, "keys", "list", "--account", "Nobody")
    assert (status, out) == (1, "")
    assert err.startswith("feedloop: NotFound: ") and "No account named 'Nobody'" in err


def test_keys_rotate_gives_a_new_key_with_the_same_scopes(migrated, capsys):
    _, out, _ = run(capsys, "keys", "create", "--account", "acme", "--scope", "trigger",
                    "--label", "salesforce")
    old_id = KEY_LINE.search(out).group(1)
    status, out, _ = run(capsys, "keys", "rotate", "--account", "acme", "--grace-hours", "48",
                         old_id)
    new_id = KEY_LINE.search(out).group(1)
    assert status == 0 and new_id != old_id
    assert f"replaces {old_id}, which keeps working for 48 h" in out
    rows = {line.split()[0]: line
            for line in run(capsys, "keys", "list", "--account", "acme")[1].splitlines()[1:]}
    assert "trigger" in rows[new_id] and "salesforce" in rows[new_id]
    assert "active" in rows[old_id]


def test_wsdl_is_printed_or_written_as_committed(var, monkeypatch, tmp_path, capsysbinary):
    monkeypatch.setenv("FEEDLOOP_BASE_URL", "http://127.0.0.1:8000")
    assert main(["wsdl"]) == 0
    # the file is written byte for byte as served, indented and ending with a newline
    assert capsysbinary.readouterr().out == WSDL_FILE.read_bytes()
    assert WSDL_FILE.read_bytes().endswith(b"</wsdl:definitions>\n")
    assert main(["wsdl", "--out", str(tmp_path / "feedloop.wsdl")]) == 0
    assert (tmp_path / "feedloop.wsdl").read_bytes() == WSDL_FILE.read_bytes()


@pytest.fixture
def invited(migrated):
    """A campaign that mails its invitations, and one respondent due now."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    rt = Runtime(uow=units_of_work(engine),
                 secret_key=settings.secret_key, base_url=settings.base_url)
    key = create_account_key(rt, "acme", ["admin"])
    admin = authenticate(rt, Credentials(key.key_id, key.secret))
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c",
                       delivery="email").campaign_id
    call(rt, admin, "AddRespondents", campaign_id=campaign_id,
         respondents=[m.Respondent(email="ana@example.com")])
    engine.dispose()
    return migrated / "mail.log"  # where the embedded default "sends" mail


@pytest.fixture
def restored_logging():
    """`feedloop worker` configures logging for the whole process: later tests get theirs."""
    root, ours = logging.getLogger(), logging.getLogger("feedloop")
    levels = root.level, ours.level
    yield
    for handler in [h for h in root.handlers
                    if any(isinstance(f, RequestIdFilter) for f in h.filters)]:
        root.removeHandler(handler)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


def test_worker_once_sends_what_is_due_and_prints_the_round(invited, capsys, restored_logging):
    status, out, _ = run(capsys, "worker", "--once")
    assert status == 0 and json.loads(out)["sent"] == 1
    assert "To: ana@example.com" in invited.read_text()


@pytest.fixture
def restored_signals():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield saved
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_worker_runs_rounds_until_sigterm(invited, capsys, restored_signals, restored_logging):
    def stop_once_it_has_worked():
        # SIGTERM before the worker's handler is installed would end pytest itself
        wait_until(lambda: signal.getsignal(signal.SIGTERM) is not
                   restored_signals[signal.SIGTERM] and invited.exists(), 60,
                   "the worker's first round")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_once_it_has_worked, daemon=True).start()
    assert main(["worker", "--interval", "0.05"]) == 0
    assert invited.read_text().count("To: ana@example.com") == 1
    # each round's counts go to the operator's log, standard error
    assert re.search(r" INFO feedloop\.worker \[-\] round recurrences=0 dumps=0 sent=1 ",
                     capsys.readouterr().err)


@pytest.fixture
def execv(monkeypatch) -> list:
    """The execs of gunicorn serve asked for, recorded instead of replacing the test process.

    The fake returns, as if gunicorn had taken over: an exception would not reach the test,
    main() turns every one into a one-line failure.
    """
    # serve sets both for gunicorn; setenv first so that monkeypatch removes them afterwards
    # (delenv of an unset variable records nothing to undo)
    for name in ("FEEDLOOP_BIND", "FEEDLOOP_WORKERS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    execs: list = []
    monkeypatch.setattr(cli.os, "execv", lambda path, args: execs.append((path, args)))
    return execs


def test_first_start_creates_the_demo_key_once_then_hands_over_to_gunicorn(var, execv, capsys):
    status, out, _ = run(capsys, "serve", "--bind", "127.0.0.1:8123", "--workers", "3")
    [(path, args)] = execv
    assert status == 0 and Path(path).name == "gunicorn" and args == [
        path, "--config", "python:service.gunicorn_conf", "service.wsgi:create_app()"]
    assert (os.environ["FEEDLOOP_BIND"], os.environ["FEEDLOOP_WORKERS"]) == ("127.0.0.1:8123", "3")
    assert out.startswith("First start: created the account 'demo'")
    assert len(KEY_LINE.findall(out)) == 1
    assert run(capsys, "serve")[:2] == (0, "") and len(execv) == 2


@pytest.mark.postgres
def test_serve_refuses_an_unmigrated_external_database(var, execv, postgres_server, capsys,
                                                       monkeypatch):
    with postgres_server.temporary_database("unmigrated") as url:
        monkeypatch.setenv("FEEDLOOP_DATABASE_URL", url)
        monkeypatch.setenv("FEEDLOOP_SECRET_KEY", "x")
        status, _, err = run(capsys, "serve")
    assert status == 1 and "run `feedloop migrate`" in err and execv == []
