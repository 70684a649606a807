"""Accounts, their API keys, failed authentications and the audit log."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update

from service.storage.records import AccountRecord, ApiKeyRecord, AuditRecord
from service.storage.repositories.base import Repository, insert_ignoring_conflicts
from service.storage.tables import (
    accounts,
    api_keys,
    audit_log,
    auth_failures,
    campaigns,
    directory,
    invitations,
)


class AccountRepository(Repository):
    def get_by_name(self, name: str) -> AccountRecord | None:
        return self._record(AccountRecord, select(accounts).where(accounts.c.name == name))

    def get(self, account_id: int) -> AccountRecord | None:
        return self._record(AccountRecord, select(accounts).where(accounts.c.id == account_id))

    def add(self, name: str, now: datetime) -> int:
        return self.connection.execute(
            insert(accounts).values(name=name, created_at=now).returning(accounts.c.id)).scalar_one()

    def count(self) -> int:
        return self.connection.execute(select(func.count()).select_from(accounts)).scalar_one()


class DirectoryRepository(Repository):
    """Identifiers that arrive without their account, resolved to it: the only look-ups by
    identifier across accounts. Key ids and public ids are read from ``directory``, a
    reference table beside the distributed ones (docs/scale.md)."""

    def add(self, kind: str, identifier: str, account_id: int) -> None:
        """Name ``identifier``'s account, in the transaction that writes the row it names
        (its primary key makes the identifier unique across accounts)."""
        self.connection.execute(insert(directory).values(
            kind=kind, identifier=identifier, account_id=account_id))

    def _account_of(self, kind: str, identifier: str, column) -> int | None:
        account_id = self.connection.execute(select(directory.c.account_id).where(
            directory.c.kind == kind, directory.c.identifier == identifier)).scalar()
        if account_id is not None:
            return account_id
        # A row written by the release before the directory, during a rolling upgrade.
        return self.connection.execute(select(column.table.c.account_id).where(
            column == identifier)).scalar()

    def account_of_key(self, key_id: str) -> int | None:
        return self._account_of("key", key_id, api_keys.c.key_id)

    def account_of_campaign(self, public_id: str) -> int | None:
        """The account of an open link's campaign."""
        return self._account_of("campaign", public_id, campaigns.c.public_id)

    def account_of_campaign_id(self, campaign_id: int) -> int | None:
        """The account of a campaign the operator names by id on the command line."""
        return self.connection.execute(select(campaigns.c.account_id).where(
            campaigns.c.id == campaign_id)).scalar()

    def account_of_nonce(self, nonce: bytes) -> int | None:
        """The account of a tracking token issued before tokens named their account."""
        return self.connection.execute(select(invitations.c.account_id).where(
            invitations.c.nonce == nonce)).scalar()


class KeyRepository(Repository):
    def add(self, account_id: int, key_id: str, secret_hash: str, scopes: list[str], label: str,
            now: datetime, expires_at: datetime | None) -> None:
        DirectoryRepository(self.connection).add("key", key_id, account_id)
        self.connection.execute(insert(api_keys).values(
            account_id=account_id, key_id=key_id, secret_hash=secret_hash,
            scopes=" ".join(scopes), label=label, created_at=now, expires_at=expires_at))

    def get(self, account_id: int, key_id: str) -> ApiKeyRecord | None:
        return self._record(ApiKeyRecord, select(api_keys).where(
            api_keys.c.account_id == account_id, api_keys.c.key_id == key_id))

    def list(self, account_id: int, include_revoked: bool) -> list[ApiKeyRecord]:
        query = select(api_keys).where(api_keys.c.account_id == account_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        return self._records(ApiKeyRecord, query.order_by(api_keys.c.id))

    def revoke(self, account_id: int, key_id: str, now: datetime) -> bool:
        result = self.connection.execute(update(api_keys).where(
            api_keys.c.account_id == account_id, api_keys.c.key_id == key_id,
            api_keys.c.revoked_at.is_(None)).values(revoked_at=now))
        return result.rowcount == 1

    def expire(self, account_id: int, key_id: str, at: datetime) -> None:
        self.connection.execute(update(api_keys).where(
            api_keys.c.account_id == account_id, api_keys.c.key_id == key_id)
            .values(expires_at=at))

    def touch(self, account_id: int, key_id: str, now: datetime) -> None:
        self.connection.execute(update(api_keys).where(
            api_keys.c.account_id == account_id, api_keys.c.key_id == key_id)
            .values(last_used_at=now))


class AuthFailureRepository(Repository):
    def blocked_until(self, address: str, now: datetime) -> datetime | None:
        until = self.connection.execute(select(auth_failures.c.blocked_until).where(
            auth_failures.c.address == address)).scalar()
        return until if until is not None and until > now else None

    def record(self, address: str, now: datetime, window: timedelta, limit: int,
               block: timedelta) -> None:
        """Count one failure in the address's current window; block it once over ``limit``."""
        row = self._one(select(auth_failures).where(auth_failures.c.address == address))
        if row is None or now - row.window_start > window:
            failures, start = 1, now
        else:
            failures, start = row.failures + 1, row.window_start
        values = {"failures": failures, "window_start": start,
                  "blocked_until": now + block if failures >= limit else None}
        if row is None:
            self.connection.execute(insert_ignoring_conflicts(self.connection, auth_failures)
                                    .values(address=address, **values)
                                    .on_conflict_do_nothing(index_elements=["address"]))
        else:
            self.connection.execute(update(auth_failures)
                                    .where(auth_failures.c.address == address).values(**values))


class AuditRepository(Repository):
    def add(self, account_id: int, key_id: str, operation: str, target: str,
            now: datetime) -> None:
        self.connection.execute(insert(audit_log).values(
            account_id=account_id, key_id=key_id, operation=operation, target=target[:200],
            at=now))

    def list(self, account_id: int, since: datetime | None, limit: int) -> list[AuditRecord]:
        query = select(audit_log).where(audit_log.c.account_id == account_id)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        return self._records(AuditRecord, query.order_by(audit_log.c.id.desc()).limit(limit))
