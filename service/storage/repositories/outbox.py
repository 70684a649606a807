"""The transactional outbox of webhooks, CRM pushes and notifications."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from service.storage.records import CrmConnectionRecord, OutboxRecord
from service.storage.repositories.base import (
    Repository,
    among_literals,
    insert_ignoring_conflicts,
)
from service.storage.tables import crm_connections, outbox, webhook_secrets


#: What the worker still has to deliver (the predicate of the partial index ix_outbox_due).
_pending = among_literals(outbox.c.state, ("pending",))


class OutboxRepository(Repository):
    def add_many(self, account_id: int, entries: list[dict], now: datetime) -> None:
        if entries:
            self.connection.execute(insert(outbox), [
                {"account_id": account_id, "state": "pending", "next_attempt_at": now,
                 "created_at": now, **entry} for entry in entries])

    def claim_due(self, owner: str, now: datetime, lease_until: datetime,
                  limit: int) -> list[OutboxRecord]:
        """Lease up to ``limit`` pending entries that are due, account by account (as
        InvitationRepository.claim_due_mail: one account's rows per claim)."""
        claimed: list[OutboxRecord] = []
        for account_id in self.connection.execute(
                select(outbox.c.account_id).where(_pending, outbox.c.next_attempt_at <= now)
                .distinct().order_by(outbox.c.account_id).limit(limit)).scalars():
            claimed += self._claim_due_of(account_id, owner, now, lease_until,
                                          limit - len(claimed))
            if len(claimed) == limit:
                break
        return claimed

    def _claim_due_of(self, account_id: int, owner: str, now: datetime,
                      lease_until: datetime, limit: int) -> list[OutboxRecord]:
        """Lease one account's due entries (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
        mine = outbox.c.account_id == account_id
        ids = list(self.connection.execute(
            select(outbox.c.id).where(
                mine, _pending, outbox.c.next_attempt_at <= now,
                (outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < now))
            .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)
            .with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        self.connection.execute(update(outbox).where(mine, outbox.c.id.in_(ids)).values(
            lease_owner=owner, lease_until=lease_until))
        return self._records(OutboxRecord, select(outbox).where(mine, outbox.c.id.in_(ids))
                             .order_by(outbox.c.id))

    def extend_leases(self, account_id: int, ids: list[int], owner: str,
                      lease_until: datetime) -> None:
        """Keep the lease of entries ``owner`` still holds (a living worker's heartbeat)."""
        self.connection.execute(update(outbox).where(
            outbox.c.account_id == account_id, outbox.c.id.in_(ids),
            outbox.c.lease_owner == owner).values(lease_until=lease_until))

    def finish(self, account_id: int, entry_id: int, owner: str, **values: Any) -> bool:
        return self.connection.execute(update(outbox).where(
            outbox.c.account_id == account_id, outbox.c.id == entry_id,
            outbox.c.lease_owner == owner,
            outbox.c.state == "pending").values(
                lease_owner=None, lease_until=None, **values)).rowcount == 1

    def finish_delivered(self, account_id: int, entry_ids: list[int], owner: str,
                         now: datetime) -> int:
        """Record that these entries of one account, leased by ``owner``, were delivered
        (one attempt more each); how many still were this owner's to finish."""
        return self.connection.execute(update(outbox).where(
            outbox.c.account_id == account_id, outbox.c.id.in_(entry_ids),
            outbox.c.lease_owner == owner, outbox.c.state == "pending").values(
                state="delivered", delivered_at=now, attempts=outbox.c.attempts + 1,
                last_error=None, lease_owner=None, lease_until=None)).rowcount

    def purge_delivered(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` entries delivered before ``before`` (retention)."""
        return self._purge(outbox, among_literals(outbox.c.state, ("delivered",))
                           & (outbox.c.delivered_at < before), limit)

    def backlog(self) -> tuple[int, datetime | None]:
        """How many entries wait, and when the oldest of them was created (a metric)."""
        count, oldest = self.connection.execute(
            select(func.count(), func.min(outbox.c.created_at))
            .where(outbox.c.state == "pending")).one()
        return count, oldest

    def list(self, account_id: int, state: str | None, limit: int) -> list[OutboxRecord]:
        query = select(outbox).where(outbox.c.account_id == account_id)
        if state is not None:
            query = query.where(outbox.c.state == state)
        return self._records(OutboxRecord, query.order_by(outbox.c.id.desc()).limit(limit))

    def retry(self, account_id: int, entry_id: int, now: datetime) -> bool:
        """Put a dead entry back in the queue, due now, with its attempts counted afresh."""
        return self.connection.execute(update(outbox).where(
            outbox.c.account_id == account_id, outbox.c.id == entry_id,
            outbox.c.state == "dead").values(state="pending", attempts=0, next_attempt_at=now,
                                             lease_owner=None, lease_until=None)).rowcount == 1

    def erase_contact(self, account_id: int, email: str, now: datetime) -> int:
        """Scrub a person's data from the outbox; what was not delivered yet never will be.

        The database finds the person's entries (by the email in their payload), so
        memory holds those only, whatever the size of the account's outbox.
        """
        erased = 0
        for row in self.connection.execute(
                select(outbox.c.id, outbox.c.payload, outbox.c.state).where(
                    outbox.c.account_id == account_id,
                    outbox.c.payload[("data", "email")].as_string() == email)).all():
            values = {"payload": {"type": row.payload.get("type"),
                                  "data": {"response_id": row.payload["data"].get("response_id"),
                                           "erased": True}}}
            if row.state == "pending":
                values.update(state="dead", last_error="not sent: the contact was erased",
                              next_attempt_at=now)
            self.connection.execute(update(outbox).where(
                outbox.c.account_id == account_id, outbox.c.id == row.id).values(**values))
            erased += 1
        return erased

    def crm_connection(self, account_id: int) -> CrmConnectionRecord | None:
        return self._record(CrmConnectionRecord, select(crm_connections).where(
            crm_connections.c.account_id == account_id))

    def set_crm_connection(self, account_id: int, values: dict, now: datetime) -> None:
        self.connection.execute(insert_ignoring_conflicts(self.connection, crm_connections)
                                .values(account_id=account_id, updated_at=now, **values)
                                .on_conflict_do_update(index_elements=["account_id"],
                                                       set_={**values, "updated_at": now}))

    def webhook_secret(self, account_id: int) -> str | None:
        return self.connection.execute(select(webhook_secrets.c.secret).where(
            webhook_secrets.c.account_id == account_id)).scalar()

    def set_webhook_secret(self, account_id: int, secret: str, now: datetime) -> None:
        self.connection.execute(insert_ignoring_conflicts(self.connection, webhook_secrets)
                                .values(account_id=account_id, secret=secret, created_at=now)
                                .on_conflict_do_update(index_elements=["account_id"],
                                                       set_={"secret": secret, "created_at": now}))
