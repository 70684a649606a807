"""Settings, built once from the environment; building them never writes to the disk."""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from service.domain.destinations import parse_allowlist

DATABASE_URL_EXAMPLE = "postgresql+psycopg://feedloop:PASSWORD@HOST/feedloop"


class ConfigError(Exception):
    """The configuration cannot work; the message says what to change, in one line."""


def default_data_dir(env: Mapping[str, str]) -> Path:
    """Where data lives without FEEDLOOP_DATA_DIR: the XDG data home, never the current dir.

    The same directory whatever directory a command starts from, so `serve`, `worker`
    and `keys` always meet the same database. Services set FEEDLOOP_DATA_DIR (the
    systemd units in deploy/ use /var/lib/feedloop).
    """
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else \
        Path(env.get("HOME") or Path.home()) / ".local" / "share"
    return base / "feedloop"


@dataclass(frozen=True)
class Settings:
    database_url: str
    base_url: str
    #: None until the embedded default created it, or when FEEDLOOP_SECRET_KEY is unset
    #: on an external database (commands refuse to run then).
    secret_key: bytes | None
    smtp_url: str
    data_dir: Path
    #: Bearer token of /metrics; empty: the endpoint is off.
    metrics_token: str = ""
    #: Addresses of reverse proxies whose X-Real-IP header names the client.
    trusted_proxies: frozenset[str] = frozenset()
    #: Networks outbound deliveries may reach although they are not public (or over http).
    outbound_allow: tuple = ()
    #: Days invitation histories and delivered outbox entries are kept; 0: for ever.
    retention_days: int = 0
    #: The S3-compatible bucket of scheduled dumps; empty: data_dir/dumps on local disk.
    dump_bucket: str = ""
    #: The object store's URL when it is not AWS S3 (MinIO, Ceph...).
    s3_endpoint_url: str = ""
    #: PostgreSQL connections per process kept open, and opened beyond them at peaks.
    db_pool_size: int = 5
    db_max_overflow: int = 10
    #: True behind a pooler in transaction mode (PgBouncer): no server-side prepares.
    db_transaction_pooler: bool = False
    #: A replica for the reads that tolerate lag (dumps, exports, metrics, the dashboard);
    #: empty: they read the primary.
    replica_database_url: str = ""

    @property
    def is_embedded(self) -> bool:
        """True on the embedded default: a SQLite file this service may create and migrate."""
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file on SQLite, None on a server database."""
        if not self.is_embedded:
            return None
        return Path(make_url(self.database_url).database or "")

    @property
    def engine_options(self) -> dict:
        """make_engine's options for this database."""
        return {"pool_size": self.db_pool_size, "max_overflow": self.db_max_overflow,
                "transaction_pooler": self.db_transaction_pooler}

    @property
    def safe_database_url(self) -> str:
        """The database URL with its password hidden, for messages and logs."""
        return make_url(self.database_url).render_as_string(hide_password=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from FEEDLOOP_* variables; the embedded default lives in the data dir."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("FEEDLOOP_DATA_DIR") or default_data_dir(env)).absolute()
        database_url = env.get("FEEDLOOP_DATABASE_URL") or f"sqlite:///{data_dir / 'feedloop.db'}"
        check_database_url(database_url)
        replica_database_url = env.get("FEEDLOOP_REPLICA_DATABASE_URL", "")
        if replica_database_url:
            check_database_url(replica_database_url, "FEEDLOOP_REPLICA_DATABASE_URL")
        secret = env.get("FEEDLOOP_SECRET_KEY")
        if secret:
            secret_key: bytes | None = secret.encode("utf-8")
        elif database_url.startswith("sqlite"):
            secret_key = read_secret(data_dir)
        else:
            # A generated secret is per node: nodes would reject each other's links.
            secret_key = None
        return cls(
            database_url=database_url,
            base_url=env.get("FEEDLOOP_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            secret_key=secret_key,
            smtp_url=env.get("FEEDLOOP_SMTP_URL", ""),
            data_dir=data_dir,
            metrics_token=env.get("FEEDLOOP_METRICS_TOKEN", ""),
            trusted_proxies=frozenset(a.strip() for a in env.get("FEEDLOOP_TRUSTED_PROXIES", "")
                                      .split(",") if a.strip()),
            outbound_allow=_outbound_allow(env.get("FEEDLOOP_OUTBOUND_ALLOW", "")),
            retention_days=_days(env.get("FEEDLOOP_RETENTION_DAYS", "0"),
                                 "FEEDLOOP_RETENTION_DAYS"),
            dump_bucket=env.get("FEEDLOOP_DUMP_BUCKET", ""),
            s3_endpoint_url=env.get("FEEDLOOP_S3_ENDPOINT_URL", ""),
            db_pool_size=_count(env, "FEEDLOOP_DB_POOL_SIZE", 5),
            db_max_overflow=_count(env, "FEEDLOOP_DB_MAX_OVERFLOW", 10),
            db_transaction_pooler=env.get("FEEDLOOP_DB_POOLER", "") == "transaction",
            replica_database_url=replica_database_url,
        )


def _outbound_allow(value: str) -> tuple:
    try:
        return parse_allowlist(value)
    except ValueError as error:
        raise ConfigError(f"FEEDLOOP_OUTBOUND_ALLOW: {error}; give comma-separated CIDRs "
                          "such as 10.0.0.0/8,127.0.0.1/32") from None


def _days(value: str, name: str) -> int:
    if not value.isdigit():
        raise ConfigError(f"{name} must be a whole number of days (0: keep for ever), "
                          f"not {value!r}.")
    return int(value)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, str(default))
    if not value.isdigit():
        raise ConfigError(f"{name} must be a whole number, not {value!r}.")
    return int(value)


def check_database_url(url: str, name: str = "FEEDLOOP_DATABASE_URL") -> None:
    """Refuse URLs of databases or drivers feedloop does not run on, saying what would work."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{name} is not a database URL; use "
                          f"{DATABASE_URL_EXAMPLE}, or unset it for SQLite in the data dir") \
            from None
    # From the name alone: asking SQLAlchemy for the driver loads the dialect, and
    # an unknown one (postgres://) would fail there with a message about plugins.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return
    if backend in ("postgres", "postgresql"):
        if driver != "psycopg":
            raise ConfigError(f"{name} must name the psycopg driver: "
                              f"{DATABASE_URL_EXAMPLE} (not {parsed.drivername}://)")
        return
    raise ConfigError(f"{name}: {parsed.drivername} is not supported; use "
                      f"PostgreSQL ({DATABASE_URL_EXAMPLE}) or unset it for SQLite")


SECRET_FILE = "secret_key"


def read_secret(data_dir: Path) -> bytes | None:
    """The generated secret of the embedded default, None before `serve` or `migrate` made it."""
    try:
        return (data_dir / SECRET_FILE).read_bytes().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def create_secret(data_dir: Path) -> bytes:
    """The embedded default's generated secret, created once (mode 0600) and kept.

    Never hard-coded: tracking links signed with it must stay valid across
    restarts, so it is written once and read back afterwards.
    """
    existing = read_secret(data_dir)
    if existing:
        return existing
    value = secrets.token_urlsafe(48).encode("ascii")
    # Written aside then linked into place: os.link fails if another process
    # got there first, and nobody ever reads a half-written file.
    staging = data_dir / f".{SECRET_FILE}.{os.getpid()}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    try:
        os.link(staging, data_dir / SECRET_FILE)
    except FileExistsError:
        value = (data_dir / SECRET_FILE).read_bytes().strip()
    finally:
        staging.unlink()
    return value
