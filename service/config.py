"""Settings, built once from the environment. Nothing here touches the disk at import."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("var")


@dataclass(frozen=True)
class Settings:
    database_url: str
    base_url: str
    secret_key: bytes
    smtp_url: str
    data_dir: Path

    @property
    def is_embedded(self) -> bool:
        """True on the embedded default: a SQLite file this service may create and migrate."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Settings from FEEDLOOP_* variables; the embedded default lives under ./var/."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("FEEDLOOP_DATA_DIR", str(DEFAULT_DATA_DIR)))
        database_url = env.get("FEEDLOOP_DATABASE_URL") or \
            f"sqlite:///{(data_dir / 'feedloop.db').resolve()}"
        secret = env.get("FEEDLOOP_SECRET_KEY")
        return cls(
            database_url=database_url,
            base_url=env.get("FEEDLOOP_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            secret_key=secret.encode("utf-8") if secret else _persisted_secret(data_dir),
            smtp_url=env.get("FEEDLOOP_SMTP_URL", ""),
            data_dir=data_dir,
        )


def _persisted_secret(data_dir: Path) -> bytes:
    """The generated secret of the embedded default, created once and kept in the data dir.

    Never hard-coded: tracking links signed with it must stay valid across
    restarts, so it is written once (mode 0600) and read back afterwards.
    """
    path = data_dir / "secret_key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode("ascii")
    # Written aside then linked into place: os.link fails if another worker
    # got there first, and nobody ever reads a half-written file.
    staging = data_dir / f".secret_key.{os.getpid()}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    try:
        os.link(staging, path)
    except FileExistsError:
        value = path.read_bytes().strip()
    finally:
        staging.unlink()
    return value
