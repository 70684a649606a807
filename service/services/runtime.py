"""What every use case needs from the outside world, composed once by the app."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol


class UnitOfWork(Protocol):
    """A transaction and its repositories (see service.storage.uow)."""

    def __enter__(self) -> "UnitOfWork": ...
    def __exit__(self, *exc_info: object) -> None: ...
    def commit(self) -> None: ...


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    """The unit-of-work factory, the clock and the settings the rules depend on."""

    uow: Callable[..., UnitOfWork]      # uow(read_only=False)
    secret_key: bytes
    base_url: str
    clock: Callable[[], datetime] = utc_now
    data_dir: Path = Path("var")

    @property
    def dump_dir(self) -> Path:
        return self.data_dir / "dumps"

    def tracking_url(self, token: str) -> str:
        return f"{self.base_url}/s/{token}"

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.base_url}/u/{token}"

    def dashboard_url(self, campaign_id: int) -> str:
        return f"{self.base_url}/dashboard/{campaign_id}"

    def dump_url(self, name: str) -> str:
        return f"{self.base_url}/exports/files/{name}"

    def open_url(self, public_id: str) -> str:
        return f"{self.base_url}/o/{public_id}"
