"""What waits for the worker: the numbers an operator watches (metrics at /metrics)."""
from __future__ import annotations

from dataclasses import dataclass

from service.services.runtime import Runtime


@dataclass(frozen=True)
class Backlog:
    outbox_pending: int
    outbox_oldest_seconds: float
    invitations_due: int


def read_backlog(rt: Runtime) -> Backlog:
    """Waiting outbox deliveries (and the oldest one's age) and invitation mails due now."""
    now = rt.clock()
    with rt.uow(replica=True) as uow:
        pending, oldest = uow.outbox.backlog()
        due = uow.invitations.count_due_mail(now)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Backlog(outbox_pending=pending, outbox_oldest_seconds=max(age, 0.0),
                   invitations_due=due)
