"""API keys at their edges: rotation from the command line, grace periods, what counts as active."""
from __future__ import annotations

from datetime import timedelta

import pytest

from service.domain.credentials import Credentials
from service.domain.errors import NotFound, Unauthorized
from service.services import Principal
from service.services.messages import ApiKeyInfo
from service.services.keys import (account_principal, authenticate, create_account_key,
                                   has_accounts, rotate_account_key)
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
