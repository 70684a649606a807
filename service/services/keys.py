"""Accounts, API keys and authentication."""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import datetime, timedelta

from service.domain.errors import (MissingCredentials, NotFound, TooManyRequests, Unauthorized,
                                   ValidationError)
from service.domain.credentials import Credentials
from service.services.catalogue import SCOPES, Principal, operation
from service.services.messages import (ApiKeyInfo, AuditEntry, CreateApiKeyRequest,
                                       ListApiKeysRequest, ListApiKeysResult,
                                       ListAuditLogRequest, ListAuditLogResult, NewApiKey,
                                       RevokeApiKeyRequest, RevokeApiKeyResult)
from service.services.runtime import Runtime

KEY_PREFIX = "fl_"
#: last_used_at is written at most this often per key, so reads stay reads.
TOUCH_INTERVAL = timedelta(minutes=1)
THROTTLE_LIMIT = 10
THROTTLE_WINDOW = timedelta(minutes=5)
THROTTLE_BLOCK = timedelta(minutes=5)
#: auth_failures rows of a key are named so; addresses never start with it.
KEY_SUBJECT = "key "
_UNKNOWN_KEY_HASH = hashlib.sha256(b"feedloop: no such key").hexdigest()
_BAD_CREDENTIALS = "Invalid API key or secret."


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random strings, not passwords: a plain SHA-256 is
    # enough to make a leaked table useless, and keeps authentication cheap.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def authenticate(rt: Runtime, credentials: Credentials | None,
                 address: str | None = None) -> Principal:
    """The principal of valid credentials; one uniform Unauthorized for anything else.

    An address, or an existing key, that failed THROTTLE_LIMIT times within
    THROTTLE_WINDOW gets TooManyRequests instead of Unauthorized for THROTTLE_BLOCK;
    valid credentials still pass. Keys are cached for ``rt.keys.seconds``: a revocation made by
    another process takes effect within that time.
    """
    if credentials is None:
        raise MissingCredentials("Authentication required: send HTTP Basic credentials "
                           "KEYID:SECRET (or a WS-Security UsernameToken on SOAP).")
    now = rt.clock()
    address = (address or "unknown")[:64]
    row = rt.keys.get(credentials.key_id, lambda: _read_key(rt, credentials.key_id))
    # Compare against a dummy hash when the key is unknown, so that an unknown
    # key and a wrong secret take the same time and get the same answer.
    expected = row.secret_hash if row is not None else _UNKNOWN_KEY_HASH
    matches = hmac.compare_digest(expected, hash_secret(credentials.secret))
    if not matches or not _usable(row, now):
        # Failures count per address and, for a key that exists, per key: guessing
        # one key's secret from many addresses is throttled too. Unknown key ids
        # are not counted, so made-up ones cannot fill the table.
        _refuse(rt, [address] + ([KEY_SUBJECT + row.key_id] if row is not None else []), now)
    # Valid credentials pass even from a throttled address: secrets are 256-bit
    # random strings, so the throttle is not what stops guessing; it caps what
    # failing callers cost, and must not lock out the others behind one NAT.
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        with rt.uow() as uow:
            uow.keys.touch(row.account_id, row.key_id, now)
            uow.commit()
        rt.keys.forget(row.key_id)
    return Principal(row.account_id, row.key_id, frozenset(row.scopes.split()))


def _usable(row, now: datetime) -> bool:
    return row is not None and row.revoked_at is None and (
        row.expires_at is None or row.expires_at > now)


def principal_of_key(rt: Runtime, key_id: str) -> Principal:
    """The principal of a key that is still usable, for a session that proved its secret
    (or a sign-in link) earlier: revoking or expiring the key ends its sessions too."""
    row = rt.keys.get(key_id, lambda: _read_key(rt, key_id))
    if not _usable(row, rt.clock()):
        raise Unauthorized("Your session has ended: sign in again.")
    return Principal(row.account_id, row.key_id, frozenset(row.scopes.split()))


def _read_key(rt: Runtime, key_id: str):
    with rt.uow(read_only=True) as uow:
        account_id = uow.directory.account_of_key(key_id)
        return uow.keys.get(account_id, key_id) if account_id is not None else None


def _refuse(rt: Runtime, subjects: list[str], now: datetime) -> None:
    """Count a failed authentication of each subject (address, key); refuse it, throttled
    once any of them is over the limit."""
    with rt.uow() as uow:
        blocked = [until for until in (uow.auth_failures.blocked_until(subject, now)
                                       for subject in subjects) if until is not None]
        if not blocked:
            for subject in subjects:
                uow.auth_failures.record(subject, now, THROTTLE_WINDOW, THROTTLE_LIMIT,
                                         THROTTLE_BLOCK)
            uow.commit()
    if blocked:
        until = max(blocked)
        raise TooManyRequests("Too many failed authentications from your address or for this "
                              f"key; try again after {until:%Y-%m-%dT%H:%M:%SZ}.",
                              retry_after=math.ceil((until - now).total_seconds()))
    raise Unauthorized(_BAD_CREDENTIALS)


def _check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValidationError(f"scopes must be among {', '.join(SCOPES)}; got "
                              f"{', '.join(scopes) or 'none'}.", field="scopes")
    return sorted(set(scopes), key=SCOPES.index)


def _new_key(uow, account_id: int, scopes: list[str], label: str, now: datetime,
             expires_at: datetime | None) -> NewApiKey:
    key_id = KEY_PREFIX + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    uow.keys.add(account_id, key_id, hash_secret(secret), scopes, label, now, expires_at)
    return NewApiKey(key_id=key_id, secret=secret, scopes=scopes, label=label, created_at=now,
                     expires_at=expires_at)


def create_account_key(rt: Runtime, account: str, scopes: list[str], label: str = "",
                       expires_at: datetime | None = None) -> NewApiKey:
    """Create the account if it does not exist yet, and a key for it (command line)."""
    name = account.strip()
    if not name or len(name) > 200:
        raise ValidationError("The account name must be 1 to 200 characters.", field="account")
    scopes = _check_scopes(scopes)
    now = rt.clock()
    with rt.uow() as uow:
        row = uow.accounts.get_by_name(name)
        account_id = row.id if row is not None else uow.accounts.add(name, now)
        key = _new_key(uow, account_id, scopes, label, now, expires_at)
        uow.commit()
    return key


def has_accounts(rt: Runtime) -> bool:
    """True once any account exists (the embedded default creates a demo one otherwise)."""
    with rt.uow(read_only=True) as uow:
        return uow.accounts.count() > 0


DEFAULT_GRACE = timedelta(hours=24)


@operation("CreateApiKey", scope="admin", audited=True, errors=(NotFound, ValidationError))
def create_api_key(rt: Runtime, principal: Principal, request: CreateApiKeyRequest) -> NewApiKey:
    """Create an API key for your account (or rotate one); the secret is shown in this answer only."""
    scopes = _check_scopes(request.scopes)
    now = rt.clock()
    if request.expires_at is not None and request.expires_at <= now:
        raise ValidationError("expires_at must be in the future.", field="expires_at")
    grace = DEFAULT_GRACE if request.replaced_grace_hours is None else \
        timedelta(hours=request.replaced_grace_hours)
    with rt.uow() as uow:
        if request.replaces is not None:
            _retire(uow, principal.account_id, request.replaces, now + grace)
        key = _new_key(uow, principal.account_id, scopes, request.label or "", now,
                       request.expires_at)
        uow.commit()
    if request.replaces is not None:
        rt.keys.forget(request.replaces)
    return key


def _retire(uow, account_id: int, key_id: str, until: datetime) -> None:
    """Let a replaced key work until ``until`` (or its own earlier expiry), then no more."""
    row = uow.keys.get(account_id, key_id)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"No active API key '{key_id}' in your account.")
    if row.expires_at is None or row.expires_at > until:
        uow.keys.expire(account_id, key_id, until)


def rotation_request(rt: Runtime, principal: Principal, key_id: str, grace: timedelta,
                     owner: str = "your account") -> CreateApiKeyRequest:
    """The CreateApiKey request that replaces ``key_id`` by a key of the same scopes and label;
    the old key stays valid for ``grace``."""
    with rt.uow(read_only=True) as uow:
        row = uow.keys.get(principal.account_id, key_id)
    if row is None:
        raise NotFound(f"No API key '{key_id}' in {owner}.")
    return CreateApiKeyRequest(scopes=row.scopes.split(), label=row.label, replaces=key_id,
                               replaced_grace_hours=int(grace.total_seconds() // 3600))


def rotate_account_key(rt: Runtime, account: str, key_id: str, grace: timedelta) -> NewApiKey:
    """A new key with the scopes and label of ``key_id``, which stays valid for ``grace``."""
    principal = account_principal(rt, account)
    return create_api_key(rt, principal, rotation_request(rt, principal, key_id, grace,
                                                          f"account '{account}'"))


def _key_info(row, now: datetime) -> ApiKeyInfo:
    active = row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
    return ApiKeyInfo(key_id=row.key_id, scopes=row.scopes.split(), label=row.label,
                      created_at=row.created_at, active=active, last_used_at=row.last_used_at,
                      expires_at=row.expires_at, revoked_at=row.revoked_at)


@operation("ListApiKeys", scope="admin", audited=False, errors=())
def list_api_keys(rt: Runtime, principal: Principal,
                  request: ListApiKeysRequest) -> ListApiKeysResult:
    """List your account's API keys (never their secrets), revoked ones on request."""
    now = rt.clock()
    with rt.uow(read_only=True) as uow:
        rows = uow.keys.list(principal.account_id, bool(request.include_revoked))
    return ListApiKeysResult(keys=[_key_info(row, now) for row in rows])


@operation("RevokeApiKey", scope="admin", audited=True, errors=(NotFound,))
def revoke_api_key(rt: Runtime, principal: Principal,
                   request: RevokeApiKeyRequest) -> RevokeApiKeyResult:
    """Revoke one of your account's keys at once; calls with it fail from now on."""
    now = rt.clock()
    with rt.uow() as uow:
        if not uow.keys.revoke(principal.account_id, request.key_id, now):
            raise NotFound(f"No active API key '{request.key_id}' in your account.")
        uow.commit()
    rt.keys.forget(request.key_id)
    return RevokeApiKeyResult(key_id=request.key_id, revoked_at=now)


def account_principal(rt: Runtime, account: str) -> Principal:
    """An operator's admin principal for a named account (command line only)."""
    with rt.uow(read_only=True) as uow:
        row = uow.accounts.get_by_name(account)
    if row is None:
        raise NotFound(f"No account named '{account}'.")
    return Principal(row.id, "operator", frozenset({"admin"}))


@operation("ListAuditLog", scope="admin", audited=False, errors=())
def list_audit_log(rt: Runtime, principal: Principal,
                   request: ListAuditLogRequest) -> ListAuditLogResult:
    """Who changed what and when in your account (admin operations), newest first."""
    with rt.uow(read_only=True) as uow:
        rows = uow.audit.list(principal.account_id, request.since, request.limit or 100)
    return ListAuditLogResult(entries=[AuditEntry(at=r.at, key_id=r.key_id,
                                                  operation=r.operation, target=r.target)
                                       for r in rows])
