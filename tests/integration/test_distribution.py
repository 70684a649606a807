"""Bulk triggers, contacts, attributes, lists and campaign changes (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, update

from service.domain.errors import Conflict, ValidationError
from tests.conftest import call
from service.services import messages as m
from service.storage.tables import contacts


def row(email, **fields) -> m.Respondent:
    return m.Respondent(email=email, **fields)


def test_mixed_rows_get_one_result_each_in_row_order(rt, admin, clock, new_campaign):
    call(rt, admin, "DefineAttribute", name="region", kind="ordinal", values=["north", "south"])
    campaign_id = new_campaign(quarantine_days=30)
    call(rt, admin, "AddRespondents", campaign_id=campaign_id,
         respondents=[row("old@example.com", event_id="E0")])
    clock.advance(days=1)
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        row("a@example.com", event_id="E1", params=[m.Param("ticket", "1")],
            attributes=[m.Attribute("region", "north")]),
        row("not an email"),
        row("b@example.com", event_id="E0"),
        row("c@example.com", attributes=[m.Attribute("region", "west")]),
        row("old@example.com", event_id="E2"),
        row("d@example.com", event_id="E1"),
        row("A@example.com", event_id="E3"),
    ])
    statuses = [(r.row, r.status) for r in result.results]
    assert statuses == [(0, "sent"), (1, "invalid"), (2, "duplicate"), (3, "invalid"),
                        (4, "suppressed"), (5, "duplicate"), (6, "suppressed")]
    by_row = result.results
    assert "not a valid email" in by_row[1].reason
    assert "'west' is not a value of the ordinal attribute 'region' (north, south)" in by_row[3].reason
    assert by_row[4].reason == "quarantine" and by_row[4].until == clock.now + timedelta(days=29)
    assert by_row[5].invitation_id == by_row[0].invitation_id and by_row[5].url == by_row[0].url
    assert by_row[6].reason == "quarantine"  # the same person twice in one call
    assert (result.sent, result.invalid, result.duplicate, result.suppressed) == (1, 2, 2, 2)
    history = call(rt, admin, "GetInvitation", invitation_id=by_row[0].invitation_id)
    assert [h.event for h in history.history] == ["created", "sent"]
    assert [(p.name, p.value) for p in history.params] == [("ticket", "1")]


def test_email_delivery_schedules_after_the_delay_or_at_send_at(rt, admin, clock, new_campaign):
    campaign_id = new_campaign(delivery="email", send_delay_minutes=30)
    at = clock.now + timedelta(days=2)
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        row("a@example.com"), row("b@example.com", send_at=at)])
    assert [r.status for r in result.results] == ["scheduled", "scheduled"]
    first, second = (call(rt, admin, "GetInvitation", invitation_id=r.invitation_id)
                     for r in result.results)
    assert first.send_at == clock.now + timedelta(minutes=30) and second.send_at == at


def test_paused_campaign_suppresses_rows_and_refuses_links(rt, admin, new_campaign):
    campaign_id = new_campaign()
    info = call(rt, admin, "UpdateCampaign", campaign_id=campaign_id, status="paused")
    assert info.status == "paused"
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id,
                  respondents=[row("a@example.com")])
    assert (result.results[0].status, result.results[0].reason) == ("suppressed", "campaign_paused")
    with pytest.raises(Conflict, match="paused"):
        call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")


def test_unsubscribed_contacts_are_suppressed(rt, admin, engine, clock, new_campaign):
    campaign_id = new_campaign()
    call(rt, admin, "UpsertContacts", contacts=[m.ContactRow(email="gone@example.com")])
    with engine.begin() as connection:
        connection.execute(update(contacts).values(unsubscribed_at=clock.now))
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id,
                  respondents=[row("gone@example.com")])
    assert (result.results[0].status, result.results[0].reason) == ("suppressed", "unsubscribed")


def test_upsert_contacts_reports_created_updated_unchanged_invalid(rt, admin):
    first = call(rt, admin, "UpsertContacts", contacts=[
        m.ContactRow(email="a@example.com", crm_id="1"), m.ContactRow(email="b@example.com")])
    assert [r.status for r in first.results] == ["created", "created"]
    again = call(rt, admin, "UpsertContacts", contacts=[
        m.ContactRow(email="a@example.com", crm_id="1"),
        m.ContactRow(email="b@example.com", attributes=[m.Attribute("name", "Bo")]),
        m.ContactRow(email="bad")])
    assert [r.status for r in again.results] == ["unchanged", "updated", "invalid"]
    assert again.results[1].contact_id == first.results[1].contact_id


def test_ordinal_attributes_keep_their_defined_order(rt, admin):
    call(rt, admin, "DefineAttribute", name="size", kind="ordinal", values=["S", "M", "L", "XL"])
    call(rt, admin, "DefineAttribute", name="name", kind="text")
    listed = call(rt, admin, "ListAttributes").attributes
    assert [(a.name, a.kind, a.values) for a in listed] == [
        ("name", "text", []), ("size", "ordinal", ["S", "M", "L", "XL"])]
    with pytest.raises(ValidationError, match="distinct"):
        call(rt, admin, "DefineAttribute", name="dup", kind="ordinal", values=["a", "a"])


def test_sync_list_adds_removes_and_replaces(rt, admin):
    people = [m.ContactRow(email=f"p{i}@example.com") for i in range(5)]
    added = call(rt, admin, "SyncList", list_name="staff", mode="add", contacts=people[:3])
    assert (added.added, added.removed, added.unchanged, added.members) == (3, 0, 0, 3)
    replaced = call(rt, admin, "SyncList", list_name="staff", mode="replace",
                    contacts=people[2:] + [m.ContactRow(email="broken")])
    assert (replaced.added, replaced.removed, replaced.unchanged, replaced.members) == (2, 2, 1, 3)
    assert [(r.row, r.email) for r in replaced.rejected] == [(3, "broken")]
    removed = call(rt, admin, "SyncList", list_name="staff", mode="remove",
                   contacts=[people[4], m.ContactRow(email="stranger@example.com")])
    assert (removed.added, removed.removed, removed.unchanged, removed.members) == (0, 1, 1, 2)


def test_non_responders_are_the_open_invitations(rt, admin, clock, new_campaign):
    campaign_id = new_campaign(link_valid_days=10)
    links = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        row(f"n{i}@example.com", crm_id=f"C{i}") for i in range(4)]).results
    call(rt, admin, "RecordResponse", invitation_id=links[1].invitation_id,
         answers=[m.Answer("nps", "7")])
    listed = call(rt, admin, "ListNonResponders", campaign_id=campaign_id, limit=2)
    assert listed.total == 3
    assert [(n.email, n.crm_id) for n in listed.invitations] == [
        ("n0@example.com", "C0"), ("n2@example.com", "C2")]
    assert listed.invitations[0].url == links[0].url
    clock.advance(days=10)
    assert call(rt, admin, "ListNonResponders", campaign_id=campaign_id).total == 0


def test_asking_again_for_an_open_link_reads_without_the_write_lock(rt, admin, engine,
                                                                    new_campaign):
    campaign_id = new_campaign()
    first = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="o@example.com",
                 crm_id="C-1", params=[m.Param("ticket", "T-1")])
    seen: list[str] = []

    def watch(conn, cursor, statement, *rest):
        seen.append(statement.split()[0] + (" IMMEDIATE" if "IMMEDIATE" in statement else ""))

    event.listen(engine, "before_cursor_execute", watch)
    try:
        again = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                     email="O@example.com", crm_id="C-1", params=[m.Param("ticket", "T-1")])
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert (again.url, again.invitation_id) == (first.url, first.invitation_id)
    # only reads (the write lock itself: test_reads_beside_a_writer.py)
    assert set(seen) == {"SELECT"}
    # What would change the contact, or another send, still goes the writing way.
    moved = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="o@example.com",
                 crm_id="C-2", params=[m.Param("ticket", "T-1")])
    assert moved.invitation_id == first.invitation_id
    assert call(rt, admin, "GetContact", email="o@example.com").crm_id == "C-2"
    other = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="o@example.com",
                 params=[m.Param("ticket", "T-2")])
    assert other.invitation_id != first.invitation_id


def test_an_expired_link_asked_for_again_is_a_new_send(rt, admin, clock, new_campaign):
    campaign_id = new_campaign(link_valid_days=7)
    first = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="e@example.com")
    clock.advance(days=6)
    again = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="e@example.com")
    assert (again.invitation_id, again.status, again.expires_at) == (
        first.invitation_id, "sent", first.expires_at)
    moved = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="e@example.com",
                 crm_id="C-9")            # the writing way: the contact changes
    assert (moved.invitation_id, moved.status, moved.expires_at) == (
        first.invitation_id, "sent", first.expires_at)
    clock.advance(days=2)
    renewed = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="e@example.com")
    assert renewed.invitation_id != first.invitation_id
    assert renewed.expires_at == clock.now + timedelta(days=7)


def test_update_campaign_changes_only_what_is_given(rt, admin, new_campaign):
    campaign_id = new_campaign(quarantine_days=14)
    info = call(rt, admin, "UpdateCampaign", campaign_id=campaign_id, name="Renamed",
                invitation_subject="How did we do?")
    assert (info.name, info.quarantine_days, info.invitation_subject) == (
        "Renamed", 14, "How did we do?")
    with pytest.raises(ValidationError, match="status 'gone'"):
        call(rt, admin, "UpdateCampaign", campaign_id=campaign_id, status="gone")


def test_invitation_history_follows_the_link_to_the_answer(rt, admin, clock, new_campaign):
    campaign_id = new_campaign()
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="h@example.com")
    clock.advance(hours=2)
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "10")])
    info = call(rt, admin, "GetInvitation", invitation_id=link.invitation_id)
    assert info.status == "responded" and info.responded_at == clock.now
    assert [(h.event, h.at) for h in info.history] == [
        ("created", clock.now - timedelta(hours=2)), ("sent", clock.now - timedelta(hours=2)),
        ("responded", clock.now)]


def test_each_invitation_of_a_bulk_call_has_its_own_history_in_order(rt, admin, clock,
                                                                      new_campaign):
    # The "created" (and "sent") events of a bulk call are written for many
    # invitations at once: each still gets exactly its own, created first.
    crm = new_campaign()
    email = new_campaign(delivery="email")
    for campaign_id, expected in ((crm, [("created", "AddRespondents"), (
            "sent", "link returned to the caller (crm delivery)")]),
            (email, [("created", "AddRespondents")])):
        results = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
            row(f"b{i}.{campaign_id}@example.com") for i in range(3)]).results
        for result in results:
            info = call(rt, admin, "GetInvitation", invitation_id=result.invitation_id)
            assert [(h.event, h.detail, h.at) for h in info.history] == [
                (event, detail, clock.now) for event, detail in expected]


def test_a_state_change_is_not_applied_from_a_state_that_does_not_allow_it(rt, admin, clock,
                                                                           new_campaign):
    campaign_id = new_campaign()
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="s@example.com")
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "9")])
    with rt.uow() as uow:
        answered = uow.invitations.get(admin.account_id, link.invitation_id)
        assert not uow.invitations.apply(answered, answered.opened(clock.now), clock.now)
        assert not uow.invitations.apply(answered, answered.mailed(clock.now, None), clock.now)
        uow.commit()
    info = call(rt, admin, "GetInvitation", invitation_id=link.invitation_id)
    assert info.status == "responded" and info.opened_at is None
    assert [h.event for h in info.history] == ["created", "sent", "responded"]


def test_a_large_batch_is_stored_alongside_its_links_and_a_small_one_without_a_thread(
        rt, admin, new_campaign, monkeypatch):
    from service.services import distribution, overlap
    started = []

    class Counted(overlap.threading.Thread):
        def start(self) -> None:
            started.append(self.name)
            super().start()

    monkeypatch.setattr(overlap.threading, "Thread", Counted)
    campaign_id = new_campaign()
    small = distribution.ALONGSIDE_ROWS - 1
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        row(f"s{n}@example.com") for n in range(small)])
    assert result.sent == small and started == []
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        row(f"l{n}@example.com", event_id=f"l{n}") for n in range(distribution.ALONGSIDE_ROWS)])
    assert started == ["feedloop-alongside"]
    # Each result carries its own stored invitation's id and link.
    with rt.uow(read_only=True) as uow:
        for result_row in result.results:
            invitation = uow.invitations.get(admin.account_id, result_row.invitation_id)
            assert invitation.event_id == f"l{result_row.row}"
            assert result_row.url.endswith(
                distribution.token_of(rt, invitation)) and result_row.status == "sent"
