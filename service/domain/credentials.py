"""What a caller presents to prove who it is."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    """An API key id and its secret, as presented by a caller."""

    key_id: str
    secret: str

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"Credentials(key_id={self.key_id!r}, secret='***')"
