"""The `feedloop` command as a newcomer uses it: first start, keys, and the README's first calls."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import FEEDLOOP, _wait_until_healthy, free_port

pytestmark = pytest.mark.e2e
README = Path(__file__).parents[2] / "README.md"


def readme_python_blocks() -> list[str]:
    section = README.read_text().split("## First calls", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def first_start(tmp_path):
    """`feedloop serve` on the embedded default in an empty directory, as the README says."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")}
    env["FEEDLOOP_BASE_URL"] = f"http://127.0.0.1:{port}"
    # The default data location is the XDG data home: a test's own, not the machine's.
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    (tmp_path / "cwd").mkdir()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([FEEDLOOP, "serve", "--bind", f"127.0.0.1:{port}"], env=env,
                                   cwd=tmp_path / "cwd", stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        _wait_until_healthy(f"http://127.0.0.1:{port}", process, log_path)
        yield port, log_path.read_text(), tmp_path, env
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_first_start_creates_the_database_and_prints_a_demo_admin_key(first_start):
    port, output, workdir, env = first_start
    keys = re.findall(r"^(fl_[0-9a-f]{16}):(\S{43})$", output, re.M)
    assert len(keys) == 1, output
    data_dir = workdir / "xdg" / "feedloop"
    assert f"feedloop: data directory {data_dir}, database sqlite:///{data_dir}" in output
    assert (data_dir / "feedloop.db").exists()
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    # Another current directory meets the same data, and leaves nothing behind.
    listing = subprocess.run([FEEDLOOP, "keys", "list", "--account", "demo"], env=env,
                             cwd=workdir, capture_output=True, text=True, check=True).stdout
    assert keys[0][0] in listing and "admin" in listing
    assert list((workdir / "cwd").iterdir()) == []


def test_readme_first_calls_work_verbatim(first_start):
    port, output, workdir, env = first_start
    key = re.search(r"^(fl_[0-9a-f]{16}:\S{43})$", output, re.M).group(1)
    for block in readme_python_blocks():
        code = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run([sys.executable, "-c", code], env={**env, "FEEDLOOP_KEY": key},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/s/[A-Za-z0-9_-]{{43}} sent\n",
                            done.stdout), done.stdout
    assert len(readme_python_blocks()) == 2


def test_keys_create_prints_the_key_alone_on_its_last_line(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
           "FEEDLOOP_DATA_DIR": str(tmp_path / "var")}
    subprocess.run([FEEDLOOP, "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run([FEEDLOOP, "keys", "create", "--account", "Acme Corp", "--scope",
                           "trigger", "--scope", "read"], env=env, capture_output=True,
                          text=True, check=True)
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"fl_[0-9a-f]{16}:[A-Za-z0-9_-]{43}", last)
    revoked = subprocess.run([FEEDLOOP, "keys", "revoke", "--account", "Acme Corp",
                              last.split(":")[0]], env=env, capture_output=True, text=True)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    unknown = subprocess.run([FEEDLOOP, "keys", "list", "--account", "Nobody"], env=env,
                             capture_output=True, text=True)
    assert unknown.returncode == 1 and "No account named 'Nobody'" in unknown.stderr


@pytest.mark.postgres
def test_serve_refuses_an_unmigrated_external_database(postgres_server):
    url = postgres_server.create_database("unmigrated")
    env = {**os.environ, "FEEDLOOP_DATABASE_URL": url, "FEEDLOOP_SECRET_KEY": "x"}
    done = subprocess.run([FEEDLOOP, "serve", "--bind", f"127.0.0.1:{free_port()}"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "run `feedloop migrate`" in done.stderr


def test_keys_rotate_gives_a_new_key_with_the_same_scopes(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
           "FEEDLOOP_DATA_DIR": str(tmp_path / "var")}
    subprocess.run([FEEDLOOP, "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run([FEEDLOOP, "keys", "create", "--account", "acme", "--scope",
                              "trigger", "--label", "salesforce"], env=env, capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
    old_id = created.split(":")[0]
    rotated = subprocess.run([FEEDLOOP, "keys", "rotate", "--account", "acme", "--grace-hours",
                              "48", old_id], env=env, capture_output=True, text=True, check=True)
    new_id = rotated.stdout.strip().splitlines()[-1].split(":")[0]
    assert new_id != old_id and f"replaces {old_id}" in rotated.stdout
    listing = subprocess.run([FEEDLOOP, "keys", "list", "--account", "acme"], env=env,
                             capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line for line in listing.splitlines()[1:]}
    assert "trigger" in rows[new_id] and "salesforce" in rows[new_id]
    assert "active" in rows[old_id]
