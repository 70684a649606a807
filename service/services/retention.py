"""Retention: invitation histories and delivered outbox entries are kept for a while only."""
from __future__ import annotations

from service.services.runtime import Runtime

#: Rows one transaction deletes: short transactions, short locks, a bounded WAL burst.
PURGE_BATCH = 1000
#: Batches one worker round deletes at most; what is left waits for the next round.
PURGE_BATCHES = 10


def purge_expired(rt: Runtime, batch: int = PURGE_BATCH, batches: int = PURGE_BATCHES) -> int:
    """Delete history events and delivered outbox entries older than the retention period,
    ``batch`` rows a transaction, ``batches`` transactions at most; how many were deleted."""
    if rt.retention is None:
        return 0
    before = rt.clock() - rt.retention
    deleted = 0
    for purge in (lambda uow: uow.invitations.purge_history(before, batch),
                  lambda uow: uow.outbox.purge_delivered(before, batch)):
        for _ in range(batches):
            with rt.uow() as uow:
                done = purge(uow)
                uow.commit()
            deleted += done
            if done < batch:
                break
    return deleted
