"""The worker deletes history events and delivered outbox entries past the retention period."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import func, select, update

from service.services.retention import purge_expired
from service.storage.tables import invitation_events, outbox
from tests.conftest import call


def count(engine, table, *where) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table).where(*where)).scalar()


def outbox_entry(rt, admin, key: str, state: str, delivered_at) -> None:
    with rt.uow() as uow:
        uow.outbox.add_many(admin.account_id, [{"kind": "webhook", "event": "e", "target": "t",
                                                "payload": {}, "idempotency_key": key}],
                            rt.clock())
        uow.connection.execute(update(outbox).where(outbox.c.idempotency_key == key)
                               .values(state=state, delivered_at=delivered_at))
        uow.commit()


def test_rows_past_retention_are_deleted_in_bounded_batches_and_the_rest_stays(
        rt, admin, clock, engine, new_campaign):
    kept = dataclasses.replace(rt, retention=timedelta(days=30))
    campaign_id = new_campaign()
    for i in range(2):   # a link handed to a CRM: "created" and "sent" events each
        call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=f"old{i}@example.com")
    outbox_entry(rt, admin, "old-delivered", "delivered", clock.now)
    outbox_entry(rt, admin, "old-dead", "dead", None)
    clock.advance(days=30)
    call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="new@example.com")
    outbox_entry(rt, admin, "new-delivered", "delivered", clock.now)
    outbox_entry(rt, admin, "pending", "pending", None)
    clock.advance(seconds=1)
    assert count(engine, invitation_events) == 6
    assert purge_expired(kept, batch=3, batches=1) == 3 + 1   # the round's bound, then outbox
    assert count(engine, invitation_events) == 3
    assert purge_expired(kept, batch=3, batches=1) == 1
    assert purge_expired(kept) == 0
    with engine.connect() as connection:
        assert connection.execute(select(invitation_events.c.event)
                                  .order_by(invitation_events.c.id)).scalars().all() \
            == ["created", "sent"]
        assert sorted(connection.execute(select(outbox.c.idempotency_key)).scalars()) \
            == ["new-delivered", "old-dead", "pending"]


def test_without_a_retention_period_nothing_is_deleted(rt, admin, clock, engine, new_campaign):
    call(rt, admin, "GetTrackingUrl", campaign_id=new_campaign(), email="a@example.com")
    clock.advance(days=3650)
    assert purge_expired(rt) == 0 and count(engine, invitation_events) == 2
