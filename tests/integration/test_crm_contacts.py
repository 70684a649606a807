"""Contacts from the CRM side: look-ups, lists, and opt-outs honoured like the unsubscribe link."""
from __future__ import annotations

import pytest

from service.domain.errors import NotFound, Unsubscribed, ValidationError
from service.services import messages as m
from service.services.delivery import claim_mail
from service.services.distribution import unsubscribe
from tests.conftest import call


def attrs(**values: str) -> list[m.Attribute]:
    return [m.Attribute(k, v) for k, v in values.items()]


@pytest.fixture
def directory(rt, admin):
    """Five contacts: regions north/south, the first three in list 'vip'."""
    rows = [m.ContactRow(f"p{i}@example.com", crm_id=f"CRM-{i}",
                         attributes=attrs(region="north" if i % 2 else "south"))
            for i in range(5)]
    call(rt, admin, "UpsertContacts", contacts=rows)
    call(rt, admin, "SyncList", list_name="vip", mode="add", contacts=rows[:3])
    return rows


def test_a_contact_is_found_by_email_or_crm_id_with_its_attributes_and_lists(rt, admin,
                                                                            directory):
    by_email = call(rt, admin, "GetContact", email="P1@Example.com")
    assert (by_email.email, by_email.crm_id, by_email.attributes, by_email.lists) == (
        "p1@example.com", "CRM-1", attrs(region="north"), ["vip"])
    assert by_email.suppressed_at is None and by_email.suppressed_via is None
    assert call(rt, admin, "GetContact", crm_id="CRM-1") == by_email
    with pytest.raises(NotFound):
        call(rt, admin, "GetContact", email="nobody@example.com")
    with pytest.raises(ValidationError, match="Give an email or a crm_id."):
        call(rt, admin, "GetContact")


def test_contacts_are_listed_by_list_and_by_attribute_a_page_at_a_time(rt, admin, directory):
    def emails(**fields) -> tuple[list[str], int]:
        page = call(rt, admin, "ListContacts", **fields)
        return [c.email for c in page.contacts], page.total

    assert emails(list_name="vip") == (["p0@example.com", "p1@example.com", "p2@example.com"], 3)
    assert emails(filters=[m.AttributeFilter("region", ["north"])]) == (
        ["p1@example.com", "p3@example.com"], 2)
    assert emails(list_name="vip", filters=[m.AttributeFilter("region", ["south"])]) == (
        ["p0@example.com", "p2@example.com"], 2)
    assert emails(offset=1, limit=2) == (["p1@example.com", "p2@example.com"], 5)
    assert emails(list_name="nope") == ([], 0)
    call(rt, admin, "EraseContact", email="p4@example.com")
    assert emails()[1] == 4


def test_an_opt_out_from_the_crm_is_honoured_by_every_campaign_like_the_link(
        rt, admin, new_campaign, clock):
    email_campaign = new_campaign(delivery="email", send_delay_minutes=10)
    pending = call(rt, admin, "AddRespondents", campaign_id=email_campaign, respondents=[
        m.Respondent("ana@example.com")]).results[0]
    suppressed = call(rt, admin, "SuppressContact", email="Ana@Example.com")
    assert (suppressed.suppressed_at, suppressed.suppressed_via) == (clock(), "crm")
    first = call(rt, admin, "SuppressContact", email="ana@example.com")
    assert first.suppressed_at == suppressed.suppressed_at  # a repeat keeps the first opt-out
    clock.advance(minutes=20)
    assert claim_mail(rt, "w1") == []
    assert call(rt, admin, "GetInvitation", invitation_id=pending.invitation_id).status == \
        "suppressed"
    other = new_campaign()
    with pytest.raises(Unsubscribed):
        call(rt, admin, "GetTrackingUrl", campaign_id=other, email="ana@example.com")
    row = call(rt, admin, "AddRespondents", campaign_id=other, respondents=[
        m.Respondent("ana@example.com")]).results[0]
    assert (row.status, row.reason) == ("suppressed", "unsubscribed")
    # an email never surveyed before is held too
    call(rt, admin, "SuppressContact", email="new@example.com")
    with pytest.raises(Unsubscribed):
        call(rt, admin, "GetTrackingUrl", campaign_id=other, email="new@example.com")
    audit = [(e.operation, e.target) for e in call(rt, admin, "ListAuditLog").entries]
    assert ("SuppressContact", f"contact_id={suppressed.contact_id}") in audit


def test_suppressions_list_both_sources_and_an_opt_in_lifts_one(rt, admin, new_campaign, clock):
    campaign_id = new_campaign()
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="bo@example.com")
    assert unsubscribe(rt, link.url.rsplit("/", 1)[1])
    clock.advance(minutes=1)
    call(rt, admin, "SuppressContact", email="ana@example.com")
    listed = call(rt, admin, "ListSuppressions")
    assert [(c.email, c.suppressed_via) for c in listed.contacts] == [
        ("bo@example.com", "link"), ("ana@example.com", "crm")]
    assert listed.total == 2
    lifted = call(rt, admin, "UnsuppressContact", email="bo@example.com")
    assert (lifted.suppressed_at, lifted.suppressed_via) == (None, None)
    assert [c.email for c in call(rt, admin, "ListSuppressions").contacts] == ["ana@example.com"]
    assert call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                email="bo@example.com").status == "sent"  # not Unsubscribed any more
    with pytest.raises(NotFound):
        call(rt, admin, "UnsuppressContact", email="nobody@example.com")
