"""`feedloop serve` on a fresh database, for the benchmarks (SQLite file or a throwaway PostgreSQL)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import FEEDLOOP, _wait_until_healthy, free_port  # noqa: E402


@contextlib.contextmanager
def running_server(backend: str = "sqlite", workers: int = 2):
    """Yield (base_url, (key_id, secret), master pid) of a running server; stop it afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="feedloop-bench-"))
    port = free_port()
    env = {**os.environ, "FEEDLOOP_DATA_DIR": str(workdir / "var"),
           "FEEDLOOP_BASE_URL": f"http://127.0.0.1:{port}", "FEEDLOOP_SECRET_KEY": "bench"}
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            from tests.support.pgserver import PostgresServer
            postgres = stack.enter_context(PostgresServer())
            env["FEEDLOOP_DATABASE_URL"] = postgres.create_database("bench")
        subprocess.run([FEEDLOOP, "migrate"], env=env, check=True, capture_output=True)
        out = subprocess.run([FEEDLOOP, "keys", "create", "--account", "bench", "--scope",
                              "admin"], env=env, check=True, capture_output=True, text=True).stdout
        key = tuple(out.strip().splitlines()[-1].split(":", 1))
        log_path = workdir / "serve.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen([FEEDLOOP, "serve", "--bind", f"127.0.0.1:{port}",
                                       "--workers", str(workers)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_healthy(base, server, log_path)
            yield base, key, server.pid
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
