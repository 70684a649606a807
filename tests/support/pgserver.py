"""A throwaway PostgreSQL server on 127.0.0.1 for tests.

initdb and postgres refuse to run as root, and CI runs as root: then the
server runs as the unprivileged ``postgres`` user (runuser) in a directory
owned by it. Durability is off: these databases live for one test session.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterator, Self

import psycopg
from psycopg import sql

from tests.support.ports import free_port

SERVER_USER = "postgres"  # the system user that runs the server when we are root
SUPERUSER = "postgres"  # the database role in every URL handed out
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # Crash safety buys nothing for a database that lives one test session.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # Concurrent-writer tests hold many connections at once (pools, workers, gunicorn).
    "max_connections": "200",
}
#: The postmaster cannot take a bound socket: a port picked free may be taken by another
#: process before the server binds it, so the start is retried on a new port.
BIND_ATTEMPTS = 5


def _bindir() -> Path:
    """The directory of initdb and pg_ctl: pg_config's, else Debian's newest version's."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                             check=False)
        if (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
             if p.parent.parent.name.replace(".", "").isdigit()]
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return max(found, key=lambda bindir: [int(n) for n in bindir.parent.name.split(".")])


def is_installed() -> bool:
    """True when initdb and pg_ctl are found (and runuser, which root needs to run them)."""
    try:
        _bindir()
        if os.geteuid() == 0:
            _runuser()
    except RuntimeError:
        return False
    return True


def _runuser() -> str:
    # /usr/sbin may be missing from PATH in CI, and runuser lives there.
    found = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if not found:
        raise RuntimeError("runuser (util-linux) is needed to run PostgreSQL as root")
    return found


def _conf_line(name: str, value: str) -> str:
    escaped = value.replace("'", "''")
    return f"{name} = '{escaped}'\n"


class PostgresServer:
    """A throwaway PostgreSQL server in a temp dir on 127.0.0.1, for tests."""

    def __init__(self, base_dir: Path | None = None,
                 settings: dict[str, str] | None = None) -> None:
        #: postgresql.conf lines over SETTINGS (a fault test wants synchronous commits).
        self.settings = {**SETTINGS, **(settings or {})}
        # /tmp by default: short enough for the unix socket path (107 bytes at most) and
        # traversable by the server user, unlike a root-owned pytest tmp dir.
        self.base_dir = Path(base_dir or "/tmp")
        self.as_root = os.geteuid() == 0
        self.root: Path | None = None  # data dir, log and socket live here
        self.port: int | None = None
        self.pid: int | None = None  # the postmaster's
        self._bindir: Path | None = None
        self._watchdog: subprocess.Popen | None = None

    def start(self, primary: "PostgresServer | None" = None) -> None:
        """Create a cluster in a new temp dir and start it; returns once it accepts connections.

        With ``primary``, the cluster is a streaming standby of that running server (a base
        backup with -R): it replays the primary's writes and refuses its own.
        """
        if self._watchdog:
            raise RuntimeError("this PostgresServer is already started")
        self._bindir = _bindir()
        owner = pwd.getpwnam(SERVER_USER) if self.as_root else None
        self.root = Path(tempfile.mkdtemp(prefix="feedloop-pg-", dir=self.base_dir))
        if owner:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._watchdog = self._start_watchdog()
        atexit.register(self.stop)
        try:
            if primary is None:
                self._initdb()
            else:
                self._base_backup(primary)
            self._start_postmaster()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Shut the server down (fast mode) and remove its directory; a no-op when not running."""
        if self._watchdog is None:
            return
        watchdog, self._watchdog = self._watchdog, None
        atexit.unregister(self.stop)
        watchdog.stdin.close()  # the watchdog's cue, exactly as when this process dies
        watchdog.wait(timeout=120)

    @property
    def admin_url(self) -> str:
        """SQLAlchemy URL of the superuser's maintenance database."""
        return self._url("postgres")

    def create_database(self, name: str, template: str = "template0") -> str:
        """Create database ``name`` as a copy of ``template`` (empty by default); return its URL."""
        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        return self._url(name)

    @contextlib.contextmanager
    def temporary_database(self, prefix: str, template: str = "template0") -> Iterator[str]:
        """A database named ``prefix`` and random digits, dropped afterwards; yields its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        url = self.create_database(name, template)
        try:
            yield url
        finally:
            self.drop_database(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        with self._admin() as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def crash(self) -> None:
        """Stop the server in immediate mode: no checkpoint, clients cut off, crash recovery
        at the next start (half of `pg_ctl restart -m immediate`)."""
        done = self._run("pg_ctl", "-D", str(self.root / "data"), "-w", "-t", "30", "stop",
                         "-m", "immediate", timeout=60)
        if done.returncode:
            raise RuntimeError(f"pg_ctl stop failed:\n{done.stdout}{done.stderr}")

    def resume(self) -> None:
        """Start the stopped server again on its port (the other half)."""
        done = self._run("pg_ctl", "-D", str(self.root / "data"), "-l",
                         str(self.root / "server.log"), "-o", f"-p {self.port}", "-w", "-t", "60",
                         "start", timeout=90)
        if done.returncode:
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}{done.stderr}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                               dbname="postgres", autocommit=True, connect_timeout=10)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self._bindir / program), *args]
        return [_runuser(), "-u", SERVER_USER, "--", *command] if self.as_root else command

    def _run(self, program: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
        # cwd "/": the server user may not enter ours (a checkout under /root), and
        # initdb and pg_ctl fail when they cannot.
        return subprocess.run(self._command(program, *args), cwd="/", stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def _start_watchdog(self) -> subprocess.Popen:
        """A process that stops the server and deletes its directory when its stdin closes.

        Its stdin closes in stop() and also when this process dies in any way, SIGKILL
        included, so no server outlives the tests. Its own session keeps the terminal's
        Ctrl-C from killing it before it has cleaned up.
        """
        pg_ctl = shlex.join(self._command("pg_ctl", "-D", str(self.root / "data"),
                                          "-w", "-t", "30", "stop", "-m"))
        script = (f"cat >/dev/null; {pg_ctl} fast >/dev/null 2>&1"
                  f" || {pg_ctl} immediate >/dev/null 2>&1; rm -rf {shlex.quote(str(self.root))}")
        return subprocess.Popen(["sh", "-c", script], cwd="/", stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def _initdb(self) -> None:
        data = self.root / "data"
        done = self._run("initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                         "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", timeout=120)
        if done.returncode:
            hint = f" (as user {SERVER_USER}: it must be able to enter every parent)" \
                if self.as_root else ""
            raise RuntimeError(f"initdb failed in {self.root}{hint}:\n{done.stdout}{done.stderr}")
        settings = {**self.settings, "unix_socket_directories": str(self.root)}
        with open(data / "postgresql.conf", "a") as conf:
            conf.writelines(_conf_line(name, value) for name, value in settings.items())

    def _base_backup(self, primary: "PostgresServer") -> None:
        data = self.root / "data"
        # initdb's trust lines for 127.0.0.1 include replication connections.
        done = self._run("pg_basebackup", "-D", str(data), "-R", "-X", "stream", "--no-sync",
                         "-h", "127.0.0.1", "-p", str(primary.port), "-U", SUPERUSER,
                         timeout=120)
        if done.returncode:
            raise RuntimeError(f"pg_basebackup failed:\n{done.stdout}{done.stderr}")
        with open(data / "postgresql.conf", "a") as conf:  # later lines win over the primary's
            conf.write(_conf_line("unix_socket_directories", str(self.root)))

    def _start_postmaster(self) -> None:
        log = self.root / "server.log"
        for _ in range(BIND_ATTEMPTS):
            self.port = free_port()
            logged = log.stat().st_size if log.exists() else 0
            done = self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(log),
                             "-o", f"-p {self.port}", "-w", "-t", "60", "start", timeout=90)
            if done.returncode == 0:
                pid_file = self.root / "data" / "postmaster.pid"
                self.pid = int(pid_file.read_text().split()[0])
                return
            attempt = log.read_bytes()[logged:].decode(errors="replace") if log.exists() else ""
            if "could not bind" not in attempt:
                break
        tail = attempt.splitlines()[-20:]
        raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{self.port}:\n"
                           f"{done.stdout}{done.stderr}--- server log, last lines ---\n"
                           + "\n".join(tail))
