"""Debian's PgBouncer in transaction mode on 127.0.0.1, in front of the test PostgreSQL.

It answers for every database of that server (``* =``) with the same role and no
password (the test server trusts 127.0.0.1, so PgBouncer does too). PgBouncer refuses
to run as root: then it runs as the unprivileged ``postgres`` user in a directory it owns.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from sqlalchemy.engine import make_url

from tests.support.conditions import wait_until
from tests.support.pgserver import SERVER_USER, _runuser
from tests.support.ports import free_port
from tests.support.processes import stop_process_group

#: PgBouncer cannot take a bound socket: a port picked free may be taken by another
#: process before it binds, so the start is retried on a new port.
BIND_ATTEMPTS = 5


def find_pgbouncer() -> str | None:
    """The pgbouncer program, or None. /usr/sbin may be missing from PATH, and it lives there."""
    return shutil.which("pgbouncer", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def config(listen_port: int, server_port: int, root: Path) -> str:
    """pgbouncer.ini: transaction pooling of every database of 127.0.0.1:``server_port``."""
    return (
        "[databases]\n"
        f"* = host=127.0.0.1 port={server_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {listen_port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {root / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        # two nodes and three workers keep pools of several connections each: clients
        # are many, server connections per database few (that is the pooler's point)
        "max_client_conn = 500\n"
        "default_pool_size = 20\n"
        f"logfile = {root / 'pgbouncer.log'}\n"
        f"pidfile = {root / 'pgbouncer.pid'}\n")


class PgBouncer:
    """PgBouncer in front of a started PostgresServer; ``url(server_url)`` routes through it."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.port: int | None = None
        self.root: Path | None = None
        self._process: subprocess.Popen | None = None

    def url(self, server_url: str) -> str:
        """``server_url`` (a database of the test server) reached through this PgBouncer."""
        return make_url(server_url).set(port=self.port).render_as_string(hide_password=False)

    def start(self) -> None:
        program = find_pgbouncer()
        if program is None:
            raise RuntimeError("pgbouncer not found: apt-get install pgbouncer")
        self.root = Path(tempfile.mkdtemp(prefix="feedloop-pgbouncer-"))
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        command = [program, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SERVER_USER)
            for path in (self.root, self.root / "userlist.txt"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            command = [_runuser(), "-u", SERVER_USER, "--", *command]
        for _ in range(BIND_ATTEMPTS):
            self.port = free_port()
            (self.root / "pgbouncer.ini").write_text(config(self.port, self.server_port,
                                                            self.root))
            self._process = subprocess.Popen(command, cwd="/", stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            wait_until(lambda: self._process.poll() is not None or self._accepts(), 20,
                       "PgBouncer listening or exited")
            if self._process.poll() is None:
                return
        self.stop()
        raise RuntimeError(f"PgBouncer did not start on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
