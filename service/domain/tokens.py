"""Tracking tokens: unguessable, free of personal data, binding the embedded parameters.

A token is ``base64url(account || nonce || tag)``: the invitation's account id
(64 bits, so that a distributed database can route the look-up to the account's
node; an internal number, nothing personal), a 128-bit nonce that names the
invitation (laid out as a UUIDv7, RFC 9562: the moment it was made in milliseconds,
then 80 random bits), and a 128-bit HMAC-SHA256 tag over the account, the nonce, the campaign,
the expiry and the canonical form of the embedded parameters. The parameters
themselves never travel in the URL; changing a single bit of the token, or the
parameters or expiry stored for it, makes verification fail.

Tokens issued before the account was in them (``base64url(nonce || tag)``, 43
characters, tagged without the account) keep working: links already in mailboxes
must not break.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from time import time_ns

NONCE_BYTES = 16
NONCE_TIME_BYTES = 6      # milliseconds since 1970, big-endian: enough until the year 10889
TAG_BYTES = 16
ACCOUNT_BYTES = 8
TOKEN_LENGTH = 54         # base64url of 40 bytes, unpadded
ACCOUNTLESS_LENGTH = 43   # the tokens issued before: base64url of 32 bytes


def new_nonce() -> bytes:
    """A fresh nonce: the current time in milliseconds (48 bits), then 80 random bits.

    The nonce is looked up by two indexes, (account, nonce) and nonce. Wholly random,
    each new invitation went to a random page of both: a 10,000-row call dirtied nearly
    every page of each and wrote them all to the log again at each commit, a cost that
    grew with the table. Led by the time, new nonces go to the end of each index, as
    UUIDv7 keys do (RFC 9562). What makes a token unforgeable is its HMAC tag; the 80
    random bits keep nonces unique (a repeat within one millisecond is one chance in
    2^40 among a million nonces) and unpredictable. The token thereby shows when its
    invitation was made, which its mail shows anyway; nothing about the person."""
    millis = time_ns() // 1_000_000
    return millis.to_bytes(NONCE_TIME_BYTES, "big") + \
        secrets.token_bytes(NONCE_BYTES - NONCE_TIME_BYTES)


def _tag(key: bytes, account: bytes, nonce: bytes, campaign_id: int,
         expires_at: datetime | None, params: dict[str, str]) -> bytes:
    expiry = "" if expires_at is None else str(int(expires_at.timestamp()))
    body = json.dumps([campaign_id, expiry, params], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    domain = b"feedloop-tracking-v2\x00" + account if account else b"feedloop-tracking-v1\x00"
    mac = hmac.new(key, domain + nonce + body.encode("utf-8"), hashlib.sha256)
    return mac.digest()[:TAG_BYTES]


def make_token(key: bytes, nonce: bytes, campaign_id: int, expires_at: datetime | None,
               params: dict[str, str], account_id: int | None = None) -> str:
    """The URL-safe token of an invitation (without ``account_id``: as issued before)."""
    account = b"" if account_id is None else account_id.to_bytes(ACCOUNT_BYTES, "big")
    raw = account + nonce + _tag(key, account, nonce, campaign_id, expires_at, params)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def split_token(token: str) -> tuple[int | None, bytes] | None:
    """The account (None in a token issued before) and nonce of a well-formed token, to
    look the invitation up; None for anything else."""
    if not isinstance(token, str) or len(token) not in (TOKEN_LENGTH, ACCOUNTLESS_LENGTH):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Reject non-canonical encodings (trailing bits set): one invitation, one token.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None
    if len(raw) == NONCE_BYTES + TAG_BYTES:
        return None, raw[:NONCE_BYTES]
    return int.from_bytes(raw[:ACCOUNT_BYTES], "big"), raw[ACCOUNT_BYTES:-TAG_BYTES]


def verify_token(key: bytes, token: str, campaign_id: int, expires_at: datetime | None,
                 params: dict[str, str], account_id: int | None = None) -> bool:
    """True when ``token`` is exactly the token of this invitation of ``account_id`` (as
    issued now, or as issued before tokens named their account)."""
    parts = split_token(token)
    if parts is None or parts[0] not in (None, account_id):
        return False
    return hmac.compare_digest(make_token(key, parts[1], campaign_id, expires_at, params,
                                          parts[0]), token)
