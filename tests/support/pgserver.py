"""A throwaway PostgreSQL server on 127.0.0.1 for tests.

initdb and postgres refuse to run as root, and CI runs as root: then the
server runs as the unprivileged ``postgres`` user (runuser) on a data
directory owned by it. Durability settings are off: these databases live for
one test session.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

SERVER_USER = "postgres"


def _bindir() -> Path:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in a temporary directory, listening on 127.0.0.1."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.as_root = os.geteuid() == 0
        # /tmp is traversable by the server user, unlike a root-owned pytest tmp dir.
        self.root = Path(tempfile.mkdtemp(prefix="feedloop-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.started = False

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, **kwargs)

    def start(self) -> None:
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chmod(self.root, 0o755)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        done = self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", timeout=120)
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        log = self.root / "server.log"
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options,
                         "-w", "-t", "60", "start", timeout=90)
        if done.returncode:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{done.stderr}\n{tail}")
        self.started = True
        atexit.register(self.stop)

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30",
                      "stop", timeout=60)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
