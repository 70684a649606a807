"""Key ids and open links' public ids name their account in the directory, a reference table
written with the key or campaign; rows of the release before it are still found."""
from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from service.domain.credentials import Credentials
from service.services.keys import authenticate, create_account_key
from service.storage.tables import api_keys, campaigns, directory
from tests.conftest import call


def directory_rows(engine) -> set[tuple[str, str, int]]:
    with engine.connect() as connection:
        return set(connection.execute(select(directory.c.kind, directory.c.identifier,
                                             directory.c.account_id)).all())


def test_a_new_key_and_a_new_campaign_name_their_account_in_the_directory(
        rt, engine, admin, admin_key, new_campaign):
    other = create_account_key(rt, "other", ["admin"])
    campaign_id = new_campaign()
    public_id = call(rt, admin, "GetCampaign", campaign_id=campaign_id).open_url.rsplit("/", 1)[1]
    other_account = authenticate(rt, Credentials(other.key_id, other.secret)).account_id
    assert directory_rows(engine) == {("key", admin_key.key_id, admin.account_id),
                                      ("key", other.key_id, other_account),
                                      ("campaign", public_id, admin.account_id)}
    with rt.uow(read_only=True) as uow:
        assert uow.directory.account_of_key(other.key_id) == other_account
        assert uow.directory.account_of_campaign(public_id) == admin.account_id
        assert uow.directory.account_of_key("fl_unknown") is None
        assert uow.directory.account_of_campaign("unknown") is None


def test_a_key_id_of_another_account_is_refused_and_leaves_no_trace(rt, engine, admin, clock):
    other = create_account_key(rt, "other", ["admin"])
    other_account = authenticate(rt, Credentials(other.key_id, other.secret)).account_id
    with pytest.raises(IntegrityError), rt.uow() as uow:
        uow.keys.add(admin.account_id, other.key_id, "0" * 64, ["admin"], "", clock(), None)
    with engine.connect() as connection:
        assert connection.execute(select(api_keys.c.account_id).where(
            api_keys.c.key_id == other.key_id)).scalars().all() == [other_account]
    assert ("key", other.key_id, admin.account_id) not in directory_rows(engine)


def test_a_key_and_a_campaign_written_by_the_release_before_the_directory_are_found(
        rt, engine, admin, new_campaign, clock):
    # During a rolling upgrade the previous release writes rows without a directory entry.
    source = call(rt, admin, "GetCampaign", campaign_id=new_campaign())
    with engine.begin() as connection:
        connection.execute(insert(api_keys).values(
            account_id=admin.account_id, key_id="fl_0123456789abcdef", secret_hash="0" * 64,
            scopes="admin", created_at=clock()))
        row = connection.execute(select(campaigns).where(
            campaigns.c.id == source.campaign_id)).one()._asdict()
        del row["id"]
        connection.execute(insert(campaigns).values({**row, "public_id": "written-before"}))
    assert ("key", "fl_0123456789abcdef", admin.account_id) not in directory_rows(engine)
    with rt.uow(read_only=True) as uow:
        assert uow.directory.account_of_key("fl_0123456789abcdef") == admin.account_id
        assert uow.directory.account_of_campaign("written-before") == admin.account_id
