"""The in-memory repositories of tests/support/fakes.py answer as the real ones do."""
from __future__ import annotations

from datetime import timedelta

import pytest

from service.domain.distribution import Campaign, Invitation, Status
from service.domain.errors import DuplicateEvent
from service.domain.credentials import Credentials
from service.services import messages as m
from service.services.keys import authenticate, create_account_key
from service.services.runtime import Runtime
from service.storage.engine import make_engine
from service.storage.migrations import upgrade
from service.storage.uow import units_of_work
from tests.conftest import call
from tests.support.fakes import FakeUnitOfWork


@pytest.fixture(params=["fake", "sqlite"])
def storage(request, clock, tmp_path):
    """(unit of work factory, account id, campaign id) on the fake or on a migrated database."""
    if request.param == "fake":
        uow = FakeUnitOfWork()
        uow.campaigns.rows[10] = Campaign(survey_id=1, name="c", id=10, account_id=1)
        yield uow, 1, 10
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'real.db'}")
    upgrade(engine)
    rt = Runtime(uow=units_of_work(engine),
                 secret_key=b"k", base_url="http://feedloop.test", clock=clock)
    key = create_account_key(rt, "acme", ["admin"])
    admin = authenticate(rt, Credentials(key.key_id, key.secret))
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id,
                       name="c").campaign_id
    yield rt.uow, admin.account_id, campaign_id
    engine.dispose()


def invitation(campaign_id: int, contact_id: int, at, event_id=None, nonce=b"") -> Invitation:
    return Invitation(campaign_id=campaign_id, contact_id=contact_id,
                      nonce=nonce or bytes(16), params={}, status=Status.SENT, created_at=at,
                      event_id=event_id)


def test_upserted_contacts_report_created_updated_and_unchanged(storage, clock):
    uow_factory, account_id, _ = storage
    with uow_factory() as uow:
        first = uow.contacts.upsert_many(account_id, [("a@x.test", None, {}),
                                                      ("b@x.test", None, {"k": "1"})], clock.now)
        again = uow.contacts.upsert_many(account_id, [("a@x.test", None, {}),
                                                      ("b@x.test", "crm-2", {"k": "1"})],
                                         clock.now)
        single = uow.contacts.upsert(account_id, "c@x.test", None, {}, clock.now)
        uow.commit()
    assert {e: c.state for e, c in first.items()} == {"a@x.test": "created",
                                                      "b@x.test": "created"}
    assert {e: c.state for e, c in again.items()} == {"a@x.test": "unchanged",
                                                      "b@x.test": "updated"}
    assert again["b@x.test"].contact.crm_id == "crm-2"
    assert again["b@x.test"].contact.attributes == {"k": "1"}
    assert single.state == "created" and not single.contact.unsubscribed


def test_invitation_look_ups_and_repeated_event_ids(storage, clock):
    uow_factory, account_id, campaign_id = storage
    with uow_factory() as uow:
        contact = uow.contacts.upsert(account_id, "a@x.test", None, {}, clock.now).contact
        early, late = clock.now, clock.now + timedelta(hours=1)
        first = uow.invitations.add(account_id, invitation(campaign_id, contact.id, early, "e1",
                                                           b"1" * 16))
        second = uow.invitations.add_many(account_id, [invitation(campaign_id, contact.id, late,
                                                                  "e2", b"2" * 16)])[0]
        with pytest.raises(DuplicateEvent):
            uow.invitations.add_many(account_id, [invitation(campaign_id, contact.id, late, "e1",
                                                             b"3" * 16)])
        assert uow.invitations.latest(account_id, campaign_id, contact.id).id == second
        assert uow.invitations.of_event(account_id, campaign_id, "e1")[0].id == first
        found, email = uow.invitations.of_event(account_id, campaign_id, "e2")
        assert (found.id, found.event_id, email) == (second, "e2", "a@x.test")
        assert uow.invitations.of_event(account_id, campaign_id, "e3") is None
        assert set(uow.invitations.by_events(account_id, campaign_id,
                                              ["e1", "e2", "e3"])) == {"e1", "e2"}
        assert uow.invitations.last_invited_at(account_id, contact.id, campaign_id) == late
        assert uow.invitations.last_invited_many(account_id, [contact.id], None) == \
            {contact.id: late}
        assert uow.invitations.last_invited_many(account_id, [contact.id + 999], None) == {}


def test_the_latest_send_of_an_email_in_one_read(storage, clock):
    uow_factory, account_id, campaign_id = storage
    with uow_factory() as uow:
        assert uow.invitations.latest_send(account_id, campaign_id + 999, "a@x.test") is None
        unknown = uow.invitations.latest_send(account_id, campaign_id, "a@x.test")
        assert (unknown.campaign.id, unknown.contact, unknown.latest) == (campaign_id, None,
                                                                            None)
        contact = uow.contacts.upsert(account_id, "a@x.test", "crm-1", {"k": "v"},
                                      clock.now).contact
        uninvited = uow.invitations.latest_send(account_id, campaign_id, "a@x.test")
        assert (uninvited.contact, uninvited.latest) == (contact, None)
        first = uow.invitations.add(account_id, invitation(campaign_id, contact.id, clock.now,
                                                           nonce=b"1" * 16))
        later = uow.invitations.add(account_id, invitation(
            campaign_id, contact.id, clock.now + timedelta(hours=1), nonce=b"2" * 16))
        send = uow.invitations.latest_send(account_id, campaign_id, "a@x.test")
        assert (send.contact, send.latest.id, send.latest.nonce) == (contact, later, b"2" * 16)
        assert first != later
