"""The `feedloop` commands an operator runs: one data location, one-line failures, `check`."""
from __future__ import annotations

import json
import socket
import sqlite3
import sys

import pytest

from service.cli import main


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A clean environment whose embedded default lives in tmp_path/data (not created yet)."""
    for name in ("FEEDLOOP_DATABASE_URL", "FEEDLOOP_SECRET_KEY", "FEEDLOOP_SMTP_URL",
                 "FEEDLOOP_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FEEDLOOP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def failure_line(err: str) -> str:
    """The one line a failed command printed after the data-location notice."""
    lines = [line for line in err.splitlines() if not line.startswith("feedloop: data directory")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["worker", "--once"], ["keys", "list", "--account", "a"], ["accounts", "create", "a"],
    ["deliveries", "list", "--account", "a"], ["backup", "copy.db"],
    ["dump", "--campaign", "1", "--format", "csv", "--out", "x.csv"],
])
def test_commands_needing_a_database_refuse_in_one_line_and_create_nothing(data_dir, capsys,
                                                                           argv):
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert failure_line(err) == (
        f"feedloop: no database at {data_dir / 'feedloop.db'}: `feedloop serve` creates it on "
        "first start, or run `feedloop migrate` (or set FEEDLOOP_DATA_DIR)")
    assert not data_dir.exists()


def test_migrate_creates_the_embedded_database_and_says_how_to_make_an_account(data_dir, capsys):
    code, out, err = run(capsys, "migrate")
    assert code == 0
    assert f"feedloop: data directory {data_dir}, database sqlite:///{data_dir}" in err
    assert out.splitlines() == [
        "database is at the latest revision (0012)",
        "no account yet: `feedloop accounts create NAME` creates one and prints its admin key"]
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600


def test_accounts_create_prints_the_first_admin_key_once(data_dir, capsys):
    run(capsys, "migrate")
    code, out, _ = run(capsys, "accounts", "create", "--json", "Acme")
    created = json.loads(out)
    assert code == 0 and created["scopes"] == ["admin"]
    assert created["key"] == f"{created['key_id']}:{created['secret']}"
    code, out, _ = run(capsys, "keys", "list", "--account", "Acme", "--json")
    assert [key["key_id"] for key in json.loads(out)] == [created["key_id"]]
    code, _, err = run(capsys, "accounts", "create", "Acme")
    assert code == 1 and "exists; add a key with `feedloop keys create" in failure_line(err)


def test_an_unmigrated_database_is_refused_with_the_command_that_fixes_it(data_dir, capsys):
    data_dir.mkdir()
    sqlite3.connect(data_dir / "feedloop.db").close()
    code, _, err = run(capsys, "keys", "list", "--account", "a")
    assert code == 1
    assert failure_line(err).endswith("has no feedloop tables: run `feedloop migrate`")


def test_a_damaged_database_file_is_one_line_and_a_traceback_only_with_debug(data_dir, capsys):
    data_dir.mkdir()
    (data_dir / "feedloop.db").write_bytes(b"not a database at all" * 100)
    (data_dir / "secret_key").write_text("k")
    code, _, err = run(capsys, "serve")
    assert code == 1
    assert "file is not a database" in failure_line(err)
    assert "restore a damaged SQLite file from a backup" in err
    with pytest.raises(Exception, match="file is not a database"):
        main(["--debug", "serve"])


def test_a_data_dir_that_is_a_file_is_refused(data_dir, capsys):
    data_dir.write_text("oops")
    code, _, err = run(capsys, "serve")
    assert code == 1
    assert failure_line(err) == (f"feedloop: the data directory {data_dir} is a file; set "
                                 "FEEDLOOP_DATA_DIR to a directory")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_postgresql_is_one_line_without_the_password(data_dir, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv("FEEDLOOP_DATABASE_URL",
                       f"postgresql+psycopg://feedloop:hunter2@127.0.0.1:{closed_port()}/f")
    monkeypatch.setenv("FEEDLOOP_SECRET_KEY", "k")
    code, _, err = run(capsys, "worker", "--once")
    line = failure_line(err)
    assert code == 1 and "hunter2" not in err
    assert line.startswith("feedloop: cannot use the database postgresql+psycopg://feedloop:***@")
    assert "refused" in line


def test_postgresql_without_the_driver_names_the_extra_to_install(data_dir, capsys, monkeypatch):
    monkeypatch.setenv("FEEDLOOP_DATABASE_URL", "postgresql+psycopg://u:p@127.0.0.1/f")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    code, _, err = run(capsys, "migrate")
    assert code == 1
    assert failure_line(err) == ("feedloop: PostgreSQL needs the postgres extra: pip install "
                                 "-c constraints.txt '.[postgres]' (psycopg)")


@pytest.mark.postgres
@pytest.mark.parametrize("argv", [["serve"], ["worker", "--once"]])
def test_on_postgresql_serve_and_worker_refuse_to_start_without_the_shared_secret(
        data_dir, capsys, monkeypatch, postgres_server, argv):
    monkeypatch.setenv("FEEDLOOP_DATABASE_URL", postgres_server.create_database(
        "nosecret_" + argv[0]))
    code, out, err = run(capsys, "migrate")
    assert code == 0 and "no account yet" in out
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert failure_line(err).startswith("feedloop: FEEDLOOP_SECRET_KEY is not set, and on "
                                        "PostgreSQL every node needs the same one")
    assert not (data_dir / "secret_key").exists()


def test_check_passes_on_a_working_embedded_installation(data_dir, capsys):
    run(capsys, "migrate")
    code, out, _ = run(capsys, "check")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "ok   config", "ok   data directory", "ok   database", "ok   secret key", "ok   smtp",
        "ok   base URL"]
    assert "ok   database: reachable, revision 0012\n" in out


def test_check_names_each_problem_and_exits_non_zero(data_dir, capsys, monkeypatch):
    run(capsys, "migrate")
    monkeypatch.setenv("FEEDLOOP_BASE_URL", "http://surveys.example.com")
    monkeypatch.setenv("FEEDLOOP_SMTP_URL", f"smtp://127.0.0.1:{closed_port()}")
    code, out, _ = run(capsys, "check", "--json")
    assert code == 1
    results = {r["check"]: r for r in json.loads(out)}
    assert not results["base URL"]["ok"] and "need https" in results["base URL"]["detail"]
    assert not results["smtp"]["ok"] and "refused" in results["smtp"]["detail"]
    assert results["database"]["ok"] and results["secret key"]["ok"]


def test_check_reports_a_missing_database_without_creating_it(data_dir, capsys):
    code, out, _ = run(capsys, "check")
    assert code == 1 and "FAIL database: no database at" in out
    assert not data_dir.exists()


def test_backup_copies_the_database_while_it_is_open(data_dir, capsys, tmp_path):
    run(capsys, "migrate")
    run(capsys, "accounts", "create", "Acme")
    writer = sqlite3.connect(data_dir / "feedloop.db")  # a server holding it open
    code, out, _ = run(capsys, "backup", str(tmp_path / "copy.db"))
    writer.close()
    assert code == 0 and out.startswith("backed up")
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT name FROM accounts").fetchall() == [("Acme",)]
    copy.close()
    code, _, err = run(capsys, "backup", str(tmp_path / "copy.db"))
    assert code == 1 and "exists; name a new file" in err


def test_worker_once_prints_its_counts_as_json(data_dir, capsys):
    run(capsys, "migrate")
    code, out, _ = run(capsys, "worker", "--once")
    assert code == 0 and json.loads(out)["sent"] == 0


def test_wsdl_on_standard_output_ends_with_a_newline(data_dir, capsys):
    code, out, _ = run(capsys, "wsdl")
    assert code == 0 and out.endswith("</wsdl:definitions>\n")


def test_version_and_help_with_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("feedloop 0.")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "HOST:PORT to listen on (env FEEDLOOP_BIND) (default: 127.0.0.1:8000)" in help_text
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "deliver webhooks and CRM pushes" in help_text and "scheduled dumps" in help_text


def test_a_database_behind_this_release_is_refused_and_one_ahead_is_served(data_dir, capsys):
    from sqlalchemy import create_engine, text
    run(capsys, "migrate")
    engine = create_engine(f"sqlite:///{data_dir / 'feedloop.db'}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    code, _, err = run(capsys, "keys", "list", "--account", "demo")
    assert code == 1 and failure_line(err).endswith(
        "is at revision 0007, this release needs 0012: run `feedloop migrate`")
    # A newer release migrated it during a rolling upgrade: this one keeps working.
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    code, out, _ = run(capsys, "check")
    assert code == 0 and "revision 0099, newer than this release's 0012" in out
