"""The installed `feedloop` command as a newcomer uses it: first start and the README's first calls.

The other commands run in process: tests/integration/test_cli.py.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import FEEDLOOP, serving

pytestmark = pytest.mark.e2e
README = Path(__file__).parents[2] / "README.md"


def readme_python_blocks() -> list[str]:
    section = README.read_text().split("## First calls", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def first_start(tmp_path):
    """`feedloop serve` on the embedded default in an empty directory, as the README says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")}
    # The default data location is the XDG data home: a test's own, not the machine's.
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    (tmp_path / "cwd").mkdir()
    log_path = tmp_path / "serve.log"
    with serving(env, tmp_path / "cwd", log_path) as base_url:
        yield int(base_url.rsplit(":", 1)[1]), log_path.read_text(), tmp_path, env


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
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/s/[A-Za-z0-9_-]{{54}} sent\n",
                            done.stdout), done.stdout
    assert len(readme_python_blocks()) == 3
