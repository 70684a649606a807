"""API keys at their edges: rotation from the command line, grace periods, what counts as active."""
from __future__ import annotations

from datetime import timedelta

import pytest

from service.domain.credentials import Credentials
from service.domain.errors import NotFound, Unauthorized, ValidationError
from service.services import Principal
from service.services.messages import ApiKeyInfo
from service.services.keys import (account_principal, authenticate, create_account_key,
                                   has_accounts, principal_of_key, rotate_account_key,
                                   rotation_request)
from tests.conftest import call


def works(rt, key) -> bool:
    try:
        authenticate(rt, Credentials(key.key_id, key.secret))
    except Unauthorized:
        return False
    return True


def test_rotation_copies_scopes_and_label_and_the_old_key_works_for_the_grace_only(rt, clock):
    old = create_account_key(rt, "acme", ["trigger", "read"], label="crm")
    new = rotate_account_key(rt, "acme", old.key_id, timedelta(hours=2))
    assert (new.scopes, new.label) == (["trigger", "read"], "crm") and new.key_id != old.key_id
    clock.advance(hours=2, seconds=-1)
    assert works(rt, old) and works(rt, new)
    clock.advance(seconds=1)
    assert not works(rt, old) and works(rt, new)


@pytest.mark.parametrize("account, key, message", [
    ("acme", "fl_0000000000000000", "No API key 'fl_0000000000000000' in account 'acme'."),
    ("acme", "other", "No API key '{other}' in account 'acme'."),
    ("nobody", "mine", "No account named 'nobody'."),
])
def test_rotation_refuses_keys_outside_the_named_account(rt, account, key, message):
    keys = {"mine": create_account_key(rt, "acme", ["read"]).key_id,
            "other": create_account_key(rt, "globex", ["read"]).key_id}
    with pytest.raises(NotFound) as refused:
        rotate_account_key(rt, account, keys.get(key, key), timedelta(hours=1))
    assert refused.value.message == message.format(**keys)


def test_operator_principal_is_the_named_accounts_admin(rt):
    assert not has_accounts(rt)
    key = create_account_key(rt, "acme", ["read"])
    assert has_accounts(rt)
    acme = authenticate(rt, Credentials(key.key_id, key.secret)).account_id
    assert account_principal(rt, "acme") == Principal(acme, "operator", frozenset({"admin"}))


@pytest.mark.parametrize("replaced", ["revoked", "another account's"])
def test_only_an_active_key_of_ones_own_account_can_be_replaced(rt, admin, replaced):
    if replaced == "revoked":
        key_id = call(rt, admin, "CreateApiKey", scopes=["read"]).key_id
        call(rt, admin, "RevokeApiKey", key_id=key_id)
    else:
        key_id = create_account_key(rt, "globex", ["read"]).key_id
    with pytest.raises(NotFound) as refused:
        call(rt, admin, "CreateApiKey", scopes=["read"], replaces=key_id)
    assert refused.value.message == f"No active API key '{key_id}' in your account."


def test_replacing_keeps_an_earlier_expiry_of_the_replaced_key(rt, admin, clock):
    soon = clock.now + timedelta(hours=1)
    key_id = call(rt, admin, "CreateApiKey", scopes=["read"], expires_at=soon).key_id
    call(rt, admin, "CreateApiKey", scopes=["read"], replaces=key_id, replaced_grace_hours=5)
    [info] = [k for k in call(rt, admin, "ListApiKeys").keys if k.key_id == key_id]
    assert info.expires_at == soon


def test_a_key_is_listed_active_until_the_moment_it_expires_or_is_revoked(rt, admin, clock):
    expiring = call(rt, admin, "CreateApiKey", scopes=["read"],
                    expires_at=clock.now + timedelta(hours=1)).key_id
    revoked = call(rt, admin, "CreateApiKey", scopes=["read"]).key_id
    call(rt, admin, "RevokeApiKey", key_id=revoked)

    def active() -> dict[str, bool]:
        listed = call(rt, admin, "ListApiKeys", include_revoked=True).keys
        return {k.key_id: k.active for k in listed if k.key_id in (expiring, revoked)}

    clock.advance(hours=1, seconds=-1)
    assert active() == {expiring: True, revoked: False}
    clock.advance(seconds=1)
    assert active() == {expiring: False, revoked: False}


def test_listed_keys_show_everything_but_the_secret(rt, admin, clock):
    created = call(rt, admin, "CreateApiKey", scopes=["trigger", "read"], label="crm",
                   expires_at=clock.now + timedelta(days=9))
    authenticate(rt, Credentials(created.key_id, created.secret))
    clock.advance(hours=1)
    call(rt, admin, "RevokeApiKey", key_id=created.key_id)
    [info] = [k for k in call(rt, admin, "ListApiKeys", include_revoked=True).keys
              if k.key_id == created.key_id]
    assert info == ApiKeyInfo(
        key_id=created.key_id, scopes=["trigger", "read"], label="crm",
        created_at=created.created_at, active=False, last_used_at=created.created_at,
        expires_at=created.created_at + timedelta(days=9), revoked_at=clock.now)


def test_a_new_key_answers_with_its_scopes_in_catalogue_order_once_each(rt, admin, clock):
    expires = clock.now + timedelta(days=2)
    created = call(rt, admin, "CreateApiKey", scopes=["admin", "read", "read"], label="ops",
                   expires_at=expires)
    assert (created.scopes, created.label, created.created_at, created.expires_at) == (
        ["read", "admin"], "ops", clock.now, expires)
    assert created.key_id.startswith("fl_") and len(created.key_id) == 19
    assert works(rt, created)


@pytest.mark.parametrize("scopes, named", [
    (["read", "write", "owner"], "read, write, owner"), ([], "none")])
def test_unknown_or_missing_scopes_are_refused_by_name(rt, admin, scopes, named):
    with pytest.raises(ValidationError) as refused:
        call(rt, admin, "CreateApiKey", scopes=scopes)
    assert (refused.value.message, refused.value.field) == (
        f"scopes must be among trigger, read, admin; got {named}.", "scopes")


@pytest.mark.parametrize("account", ["", "   ", "a" * 201])
def test_an_account_name_must_be_1_to_200_characters(rt, account):
    with pytest.raises(ValidationError) as refused:
        create_account_key(rt, account, ["read"])
    assert (refused.value.message, refused.value.field) == (
        "The account name must be 1 to 200 characters.", "account")


def test_a_second_key_of_a_named_account_joins_it(rt):
    first = create_account_key(rt, " " + "a" * 200 + " ", ["read"])
    second = create_account_key(rt, "a" * 200, ["admin"], label="ops")
    principals = [authenticate(rt, Credentials(k.key_id, k.secret)) for k in (first, second)]
    assert principals[0].account_id == principals[1].account_id
    assert [p.scopes for p in principals] == [frozenset({"read"}), frozenset({"admin"})]


def test_a_keys_use_is_written_down_at_most_once_a_minute(rt, admin, clock):
    key = call(rt, admin, "CreateApiKey", scopes=["read"])
    start = clock.now

    def last_used():
        [info] = [k for k in call(rt, admin, "ListApiKeys").keys if k.key_id == key.key_id]
        return info.last_used_at

    assert last_used() is None
    for seconds, expected in [(0, start), (59, start), (1, start + timedelta(minutes=1))]:
        clock.advance(seconds=seconds)
        authenticate(rt, Credentials(key.key_id, key.secret))
        assert last_used() == expected


def test_a_call_without_credentials_is_told_how_to_authenticate(rt):
    with pytest.raises(Unauthorized) as refused:
        authenticate(rt, None)
    assert refused.value.message == ("Authentication required: send HTTP Basic credentials "
                                     "KEYID:SECRET (or a WS-Security UsernameToken on SOAP).")


def test_a_session_is_its_own_keys_principal_until_the_key_expires(rt, clock):
    first = create_account_key(rt, "acme", ["read"])
    second = create_account_key(rt, "acme", ["trigger", "read"])
    rotate_account_key(rt, "acme", first.key_id, timedelta(hours=1))  # first expires in an hour
    acme = account_principal(rt, "acme").account_id
    assert principal_of_key(rt, first.key_id) == Principal(acme, first.key_id, frozenset({"read"}))
    assert principal_of_key(rt, second.key_id) == Principal(acme, second.key_id,
                                                            frozenset({"trigger", "read"}))
    clock.advance(hours=1)
    with pytest.raises(Unauthorized) as ended:
        principal_of_key(rt, first.key_id)
    assert ended.value.message == "Your session has ended: sign in again."
    assert principal_of_key(rt, second.key_id).key_id == second.key_id


def test_a_rotation_asked_for_on_a_page_names_the_callers_own_account(rt, admin):
    with pytest.raises(NotFound) as refused:
        rotation_request(rt, admin, "fl_0000000000000000", timedelta(hours=1))
    assert refused.value.message == "No API key 'fl_0000000000000000' in your account."
