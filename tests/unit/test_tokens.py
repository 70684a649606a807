"""Tracking tokens: unguessable, bound to their parameters and expiry, never forgeable."""
from __future__ import annotations

import base64
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from service.domain.tokens import TOKEN_LENGTH, make_token, new_nonce, split_token, verify_token

KEY = b"k" * 32
EXPIRY = datetime(2027, 1, 1, tzinfo=timezone.utc)
PARAMS = {"ticket": "T-1", "agent": "7"}
NONCE = bytes(range(16))
TOKEN = make_token(KEY, NONCE, 5, EXPIRY, PARAMS)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_token_is_url_safe_and_carries_128_random_bits():
    assert len(TOKEN) == TOKEN_LENGTH and set(TOKEN) <= set(ALPHABET)
    assert split_token(TOKEN) == NONCE
    assert len(new_nonce()) == 16 and new_nonce() != new_nonce()


def test_token_verifies_only_with_its_own_campaign_expiry_params_and_key():
    assert verify_token(KEY, TOKEN, 5, EXPIRY, PARAMS)
    assert not verify_token(KEY, TOKEN, 6, EXPIRY, PARAMS)
    assert not verify_token(KEY, TOKEN, 5, None, PARAMS)
    assert not verify_token(KEY, TOKEN, 5, EXPIRY, {**PARAMS, "ticket": "T-2"})
    assert not verify_token(b"another key", TOKEN, 5, EXPIRY, PARAMS)


def test_parameter_order_does_not_change_the_token():
    assert make_token(KEY, NONCE, 5, EXPIRY, dict(reversed(PARAMS.items()))) == TOKEN


@given(st.data())
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_mutated_token_is_ever_accepted(data):
    kind = data.draw(st.sampled_from(["replace", "insert", "delete", "arbitrary"]))
    if kind == "arbitrary":
        mutated = data.draw(st.text(max_size=60))
    else:
        index = data.draw(st.integers(0, len(TOKEN) - 1))
        char = data.draw(st.sampled_from(ALPHABET + "=+/. %"))
        mutated = {"replace": TOKEN[:index] + char + TOKEN[index + 1:],
                   "insert": TOKEN[:index] + char + TOKEN[index:],
                   "delete": TOKEN[:index] + TOKEN[index + 1:]}[kind]
    if mutated != TOKEN:
        assert not verify_token(KEY, mutated, 5, EXPIRY, PARAMS)


@given(st.binary(min_size=32, max_size=32))
def test_no_random_token_is_accepted(raw):
    forged = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert forged == TOKEN or not verify_token(KEY, forged, 5, EXPIRY, PARAMS)


def test_a_token_spelled_with_unused_trailing_bits_names_no_invitation():
    # The last character carries two bits of the tag and four unused ones: setting one of
    # those decodes to the same bytes, but only the canonical spelling is a token.
    last = ALPHABET.index(TOKEN[-1])
    other_spelling = TOKEN[:-1] + ALPHABET[last ^ 1]
    assert base64.urlsafe_b64decode(other_spelling + "=") == base64.urlsafe_b64decode(TOKEN + "=")
    assert split_token(other_spelling) is None
