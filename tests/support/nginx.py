"""Debian's nginx with the shipped deploy/nginx.conf, in front of test servers on 127.0.0.1.

The site configuration is deploy/nginx.conf itself with only its deployment-specific
values replaced (node addresses, listen addresses, certificate paths), so the suite
tests the file operators install. nginx runs in the foreground as a child of the
test; as root, as Debian's unprivileged www-data in a directory it owns.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.conditions import wait_until
from tests.support.ports import free_port
from tests.support.processes import stop_process_group

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
SERVER_USER = "www-data"  # the user Debian's nginx workers run as, when we are root
#: nginx cannot take a bound socket: a port picked free may be taken by another process
#: before nginx binds it, so the start is retried on new ports.
BIND_ATTEMPTS = 5


def find_nginx() -> str | None:
    """The nginx program, or None. /usr/sbin may be missing from PATH, and nginx lives there."""
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def site_config(shipped: str, upstreams: tuple[str, str], http_port: int, https_port: int,
                certificate: Path, key: Path) -> str:
    """``shipped`` (deploy/nginx.conf) for 127.0.0.1: these upstreams, ports and certificate.

    Each replaced text must occur exactly once, so a change of the shipped file that
    these replacements no longer fit fails here instead of going untested.
    """
    replacements = {
        "10.0.0.11:8000": upstreams[0],
        "10.0.0.12:8000": upstreams[1],
        "    listen 80;\n": f"    listen 127.0.0.1:{http_port};\n",
        "    listen [::]:80;\n": "",
        "    listen 443 ssl http2;\n": f"    listen 127.0.0.1:{https_port} ssl http2;\n",
        "    listen [::]:443 ssl http2;\n": "",
        "/etc/letsencrypt/live/surveys.example.com/fullchain.pem": str(certificate),
        "/etc/letsencrypt/live/surveys.example.com/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        if shipped.count(old) != 1:
            raise ValueError(f"deploy/nginx.conf has {old!r} {shipped.count(old)} times, not "
                             f"once: update tests/support/nginx.py with it")
        shipped = shipped.replace(old, new)
    return shipped


def _main_config(root: Path) -> str:
    # What Debian's /etc/nginx/nginx.conf gives the site, plus what an unprivileged
    # nginx needs: temporary files in its own directory, not /var/lib/nginx.
    temp_paths = "".join(f"    {kind}_temp_path {root / kind};\n"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        # one worker, one round-robin: consecutive requests alternate between the nodes
        "worker_processes 1;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"{temp_paths}"
        "    log_format ids '$request_id $upstream_addr $status \"$request\"';\n"
        f"    access_log {root / 'access.log'} ids;\n"
        f"    include {root / 'feedloop.conf'};\n"
        "}\n")


def write_self_signed_certificate(certificate: Path, key: Path) -> None:
    """A certificate for 127.0.0.1 signed by its own key, for clients to trust as their CA."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()),
                           critical=False)
            .sign(private, hashes.SHA256()))
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


class NginxServer:
    """deploy/nginx.conf in front of two upstreams ("host:port"), on ports of 127.0.0.1."""

    def __init__(self, upstreams: tuple[str, str]) -> None:
        self.upstreams = upstreams
        self.root: Path | None = None  # configuration, certificate, logs, temporary files
        self.http_port: int | None = None
        self.https_port: int | None = None
        self._process: subprocess.Popen | None = None

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def certificate(self) -> Path:
        """The self-signed certificate nginx presents: the one CA its clients trust."""
        return self.root / "cert.pem"

    @property
    def access_log(self) -> Path:
        """One line per request: nginx's request id, the node that served it, status, request."""
        return self.root / "access.log"

    def start(self) -> None:
        """Start nginx; returns once it listens on both ports."""
        # /tmp: a pytest directory under root's 0700 one is closed to www-data.
        self.root = Path(tempfile.mkdtemp(prefix="feedloop-nginx-"))
        try:
            write_self_signed_certificate(self.certificate, self.root / "key.pem")
            for _ in range(BIND_ATTEMPTS):
                self.http_port, self.https_port = free_port(), free_port()
                errors = self._try_start()
                if errors is None:
                    return
                if "Address already in use" not in errors:
                    break
            raise RuntimeError(f"nginx did not start on 127.0.0.1:{self.http_port} and "
                               f":{self.https_port}:\n{errors}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop nginx and remove its directory; a no-op when not started."""
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _try_start(self) -> str | None:
        """None once nginx runs and listens, else what it wrote before it exited."""
        (self.root / "feedloop.conf").write_text(site_config(
            SHIPPED.read_text(), self.upstreams, self.http_port, self.https_port,
            self.certificate, self.root / "key.pem"))
        (self.root / "nginx.conf").write_text(_main_config(self.root))
        pid_file, stderr = self.root / "nginx.pid", self.root / "stderr.log"
        as_user = {}
        if os.geteuid() == 0:
            as_user = {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}
            for path in [self.root, *self.root.iterdir()]:
                shutil.chown(path, SERVER_USER, SERVER_USER)
        with open(stderr, "wb") as errors:
            self._process = subprocess.Popen(
                [find_nginx(), "-p", str(self.root), "-c", str(self.root / "nginx.conf"),
                 "-g", f"daemon off; pid {pid_file}; error_log stderr;"],
                cwd="/", stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                start_new_session=True, **as_user)
        # nginx writes its pid file once it has bound every listening socket.
        wait_until(lambda: self._process.poll() is not None or (
            pid_file.exists() and pid_file.read_text().strip()), 30, "nginx to start")
        if self._process.poll() is None:
            return None
        self._process = None
        return stderr.read_text(errors="replace")
