"""Tracking tokens: unguessable, free of personal data, binding the embedded parameters.

A token is ``base64url(nonce || tag)``: a 128-bit random nonce that names the
invitation, followed by a 128-bit HMAC-SHA256 tag over the nonce, the campaign,
the expiry and the canonical form of the embedded parameters. The parameters
themselves never travel in the URL; changing a single bit of the token, or the
parameters or expiry stored for it, makes verification fail.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import datetime

NONCE_BYTES = 16
TAG_BYTES = 16
TOKEN_LENGTH = 43  # base64url of 32 bytes, unpadded


def new_nonce() -> bytes:
    """A fresh 128-bit random nonce."""
    return secrets.token_bytes(NONCE_BYTES)


def _tag(key: bytes, nonce: bytes, campaign_id: int, expires_at: datetime | None,
         params: dict[str, str]) -> bytes:
    expiry = "" if expires_at is None else str(int(expires_at.timestamp()))
    body = json.dumps([campaign_id, expiry, params], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    mac = hmac.new(key, b"feedloop-tracking-v1\x00" + nonce + body.encode("utf-8"),
                   hashlib.sha256)
    return mac.digest()[:TAG_BYTES]


def make_token(key: bytes, nonce: bytes, campaign_id: int, expires_at: datetime | None,
               params: dict[str, str]) -> str:
    """The URL-safe token of an invitation."""
    raw = nonce + _tag(key, nonce, campaign_id, expires_at, params)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def split_token(token: str) -> bytes | None:
    """The nonce of a well-formed token (to look the invitation up), or None."""
    if not isinstance(token, str) or len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=")
    except (binascii.Error, ValueError):
        return None
    # Reject non-canonical encodings (trailing bits set): one invitation, one token.
    if len(raw) != NONCE_BYTES + TAG_BYTES or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None
    return raw[:NONCE_BYTES]


def verify_token(key: bytes, token: str, campaign_id: int, expires_at: datetime | None,
                 params: dict[str, str]) -> bool:
    """True when ``token`` is exactly the token of this invitation."""
    nonce = split_token(token)
    if nonce is None:
        return False
    return hmac.compare_digest(make_token(key, nonce, campaign_id, expires_at, params), token)
