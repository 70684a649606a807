"""The look-ups of every call use an index on all their equality columns (SQLite's planner
has no statistics: a unique key that leads with the account must not win over the index
meant for a query, or a call walks every row of the account)."""
from __future__ import annotations

import pytest
from sqlalchemy.dialects import sqlite

from service.storage.repositories import contacts, invitations, responses

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: statement -> (table, the columns its search must use: the index meant for it)
PLANS = {
    "a contact's latest response per campaign": (
        responses._latest_per_campaign(False), "responses",
        "ix_responses_contact (account_id=? AND contact_id=?)"),
    "a contact's latest response in one campaign": (
        responses._latest_per_campaign(True), "responses",
        "ix_responses_contact (account_id=? AND contact_id=? AND campaign_id=?)"),
    "a campaign's latest send to a contact": (
        invitations._LATEST, "invitations",
        "ix_invitations_campaign_contact (account_id=? AND campaign_id=? AND contact_id=?)"),
    "when a contact was last invited by a campaign": (
        invitations._last_invited(True), "invitations",
        "ix_invitations_campaign_contact (account_id=? AND campaign_id=? AND contact_id=?)"),
    "when a contact was last invited by any campaign": (
        invitations._last_invited(False), "invitations",
        "ix_invitations_account_contact (account_id=? AND contact_id=?)"),
    "an invitation by its event id, with its contact's email": (
        invitations._OF_EVENT, "invitations", "(account_id=? AND campaign_id=? AND event_id=?)"),
    "a link's invitation with its campaign, survey and contact": (
        invitations._OF_LINK, "invitations", "(account_id=? AND nonce=?)"),
    "the contact of an email beside a campaign and their latest send": (
        invitations._LATEST_SEND, "contacts", "(account_id=? AND email=?)"),
    "an invitation by its token's nonce": (
        invitations._BY_NONCE, "invitations", "(account_id=? AND nonce=?)"),
    "a contact by email": (contacts._BY_EMAIL, "contacts", "(account_id=? AND email=?)"),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_a_hot_look_up_searches_the_index_meant_for_it(engine, name):
    statement, table, search = PLANS[name]
    compiled = statement.compile(dialect=sqlite.dialect())
    parameters = [compiled.params[key] for key in compiled.positiontup]
    with engine.connect() as connection:
        plan = [row[3] for row in connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(parameters))]
    searches = [step for step in plan if step.startswith(f"SEARCH {table} ")]
    assert searches and all(search in step for step in searches), plan
