"""Tracking tokens: unguessable, bound to their parameters and expiry, never forgeable."""
from __future__ import annotations

import base64
import time
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from service.domain.tokens import (
    ACCOUNTLESS_LENGTH,
    TOKEN_LENGTH,
    make_token,
    new_nonce,
    split_token,
    verify_token,
)

KEY = b"k" * 32
EXPIRY = datetime(2027, 1, 1, tzinfo=timezone.utc)
PARAMS = {"ticket": "T-1", "agent": "7"}
NONCE = bytes(range(16))
ACCOUNT = 2**40 + 9
TOKEN = make_token(KEY, NONCE, 5, EXPIRY, PARAMS, ACCOUNT)
#: As issued before tokens named their account.
ACCOUNTLESS = make_token(KEY, NONCE, 5, EXPIRY, PARAMS)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_token_is_url_safe_and_carries_its_account_and_nonce():
    assert len(TOKEN) == TOKEN_LENGTH and set(TOKEN) <= set(ALPHABET)
    assert split_token(TOKEN) == (ACCOUNT, NONCE)


def test_a_nonce_is_the_time_in_milliseconds_then_80_random_bits():
    before = time.time_ns() // 1_000_000
    nonces = [new_nonce() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert all(len(nonce) == 16 for nonce in nonces)
    moments = [int.from_bytes(nonce[:6], "big") for nonce in nonces]
    assert before <= moments[0] and moments[-1] <= after
    # Made later, sorted later (each index then grows at its end) ...
    assert moments == sorted(moments)
    # ... and never the same, however close together: the rest is random.
    assert len({nonce[6:] for nonce in nonces}) == len(nonces)
    ones = sum(bin(byte).count("1") for nonce in nonces for byte in nonce[6:])
    assert 0.47 < ones / (len(nonces) * 80) < 0.53


def test_nonces_made_a_millisecond_apart_sort_in_that_order(monkeypatch):
    import service.domain.tokens as tokens
    clock = iter([1_700_000_000_000_999_999, 1_700_000_000_001_000_000])
    monkeypatch.setattr(tokens, "time_ns", lambda: next(clock))
    first, second = new_nonce(), new_nonce()
    assert first[:6] == (1_700_000_000_000).to_bytes(6, "big")
    assert first < second


def test_token_verifies_only_with_its_own_account_campaign_expiry_params_and_key():
    assert verify_token(KEY, TOKEN, 5, EXPIRY, PARAMS, ACCOUNT)
    assert not verify_token(KEY, TOKEN, 5, EXPIRY, PARAMS, ACCOUNT + 1)
    assert not verify_token(KEY, TOKEN, 6, EXPIRY, PARAMS, ACCOUNT)
    assert not verify_token(KEY, TOKEN, 5, None, PARAMS, ACCOUNT)
    assert not verify_token(KEY, TOKEN, 5, EXPIRY, {**PARAMS, "ticket": "T-2"}, ACCOUNT)
    assert not verify_token(b"another key", TOKEN, 5, EXPIRY, PARAMS, ACCOUNT)


def test_an_account_written_into_a_token_issued_without_one_is_refused():
    nonce_and_tag = base64.urlsafe_b64decode(ACCOUNTLESS + "=")
    moved = base64.urlsafe_b64encode(ACCOUNT.to_bytes(8, "big") + nonce_and_tag).rstrip(b"=")
    assert not verify_token(KEY, moved.decode(), 5, EXPIRY, PARAMS, ACCOUNT)


def test_a_token_issued_before_tokens_named_their_account_still_verifies():
    assert len(ACCOUNTLESS) == ACCOUNTLESS_LENGTH and split_token(ACCOUNTLESS) == (None, NONCE)
    assert verify_token(KEY, ACCOUNTLESS, 5, EXPIRY, PARAMS, ACCOUNT)
    assert not verify_token(KEY, ACCOUNTLESS, 5, EXPIRY, {}, ACCOUNT)


def test_parameter_order_does_not_change_the_token():
    assert make_token(KEY, NONCE, 5, EXPIRY, dict(reversed(PARAMS.items())), ACCOUNT) == TOKEN


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
        assert not verify_token(KEY, mutated, 5, EXPIRY, PARAMS, ACCOUNT)


@given(st.one_of(st.binary(min_size=32, max_size=32), st.binary(min_size=40, max_size=40)))
def test_no_random_token_is_accepted(raw):
    forged = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert forged in (TOKEN, ACCOUNTLESS) or not verify_token(KEY, forged, 5, EXPIRY, PARAMS,
                                                               ACCOUNT)


@pytest.mark.parametrize("token", [TOKEN, ACCOUNTLESS], ids=["current", "accountless"])
def test_a_token_spelled_with_unused_trailing_bits_names_no_invitation(token):
    # The last character's lowest bits are not part of the bytes: setting one of them
    # decodes to the same bytes, but only the canonical spelling is a token.
    def decoded(text):
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    other_spelling = token[:-1] + ALPHABET[ALPHABET.index(token[-1]) ^ 1]
    assert decoded(other_spelling) == decoded(token)
    assert split_token(other_spelling) is None
