"""What every use case needs from the outside world, composed once by the app."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, ContextManager, Protocol

from service.domain.destinations import Destinations

if TYPE_CHECKING:  # for the annotations only: services never call storage directly
    from service.storage.repositories import (AccountRepository, AttributeRepository,
                                              AuditRepository, AuthFailureRepository,
                                              CampaignRepository, ContactRepository,
                                              DirectoryRepository,
                                              DumpFileRepository, ExportCursorRepository,
                                              InvitationRepository, KeyRepository,
                                              ListRepository, OutboxRepository,
                                              ResponseRepository, SurveyRepository)


class UnitOfWork(Protocol):
    """A transaction and its repositories (service.storage.uow is the real one;
    tests/support/fakes.py keeps the trigger rules' repositories in memory).

    Services reach storage only through these attributes.
    """

    accounts: AccountRepository
    directory: DirectoryRepository
    keys: KeyRepository
    auth_failures: AuthFailureRepository
    audit: AuditRepository
    surveys: SurveyRepository
    campaigns: CampaignRepository
    attributes: AttributeRepository
    contacts: ContactRepository
    lists: ListRepository
    invitations: InvitationRepository
    responses: ResponseRepository
    cursors: ExportCursorRepository
    dump_files: DumpFileRepository
    outbox: OutboxRepository

    def __enter__(self) -> "UnitOfWork": ...
    def __exit__(self, *exc_info: object) -> None: ...
    def commit(self) -> None: ...


class FileStore(Protocol):
    """Files of an account that appear complete or not at all."""

    def open(self, account_id: int, name: str) -> Any: ...   # a StoredFile, or None
    def new_file(self, account_id: int, name: str) -> ContextManager[BinaryIO]: ...


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class RecentCache:
    """Values read from the database, reused for ``seconds`` by this process.

    For data that changes rarely and is read on every call (API keys): a change
    made in another process is seen at the latest ``seconds`` later; one made in
    this process is seen at once when its writer calls ``forget``.
    """

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.monotonic = monotonic
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        """The cached value of ``key``, or ``load()`` when it is missing or too old."""
        now = self.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.seconds:
            return entry[1]
        value = load()
        with self._lock:
            if len(self._entries) > 10_000:  # unknown key ids must not grow it without bound
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def forget(self, key: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)


@dataclass
class Runtime:
    """The unit-of-work factory, the clock and the settings the rules depend on."""

    #: uow(read_only=False, replica=False); replica=True: a read that tolerates a replica's
    #: lag and is never followed by a write of what it read (service.storage.uow).
    uow: Callable[..., UnitOfWork]
    secret_key: bytes
    base_url: str
    clock: Callable[[], datetime] = utc_now
    #: Verified API keys, so that a call does not read its key from the database;
    #: a key revoked or expired through another process stops working within 5 s.
    keys: RecentCache = field(default_factory=lambda: RecentCache(seconds=5.0))
    #: Where scheduled dump files are kept (service.storage.atomic.DumpStore on local disk,
    #: service.storage.objects.ObjectStore in an S3-compatible bucket).
    dump_store: FileStore | None = None
    #: Where webhooks and CRM pushes may go (FEEDLOOP_OUTBOUND_ALLOW widens it).
    destinations: Destinations = field(default_factory=Destinations)
    #: How long invitation histories and delivered outbox entries are kept (None: for ever).
    retention: timedelta | None = None

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
