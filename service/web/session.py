"""Who a person is on the account pages: a signed session cookie, or a sign-in link.

Both are sealed values ``<key id>.<expiry>.<nonce>.<tag>``: the tag is an HMAC of
the rest under the service's secret key and a purpose, so a sign-in link cannot be
used as a cookie nor the other way round. A session holds the key's id, never its
secret; every request looks the key up again, so revoking or expiring the key ends
its sessions. Scripts may still send HTTP Basic credentials instead.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from werkzeug.wrappers import Request, Response
from werkzeug.utils import redirect

from service.domain.errors import DomainError, Forbidden, Unauthorized
from service.services import Principal, Runtime
from service.services.keys import principal_of_key
from service.web.csrf import MAX_AGE as CSRF_MAX_AGE, check_csrf, issue_csrf
from service.web.toolkit import authenticated

COOKIE = "feedloop_session"
#: The sign-in form's own cookie: a nonce its CSRF token is bound to, so that a page of
#: another site cannot post its own key to /signin and sign a browser in to that account.
SIGN_IN_COOKIE = "feedloop_signin"
SESSION_LIFETIME = timedelta(hours=8)
LINK_LIFETIME = timedelta(minutes=15)
SESSION, SIGN_IN_LINK = "session", "sign-in-link"
CSRF_FIELD = "_csrf"


def _tag(key: bytes, purpose: str, body: str) -> str:
    mac = hmac.new(key, f"feedloop-{purpose}-v1\x00{body}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode("ascii")


def seal(key: bytes, purpose: str, key_id: str, expires: datetime) -> str:
    """A value naming ``key_id`` until ``expires``, for ``purpose`` only."""
    body = f"{key_id}.{int(expires.timestamp())}.{secrets.token_urlsafe(9)}"
    return f"{body}.{_tag(key, purpose, body)}"


@dataclass(frozen=True)
class Seal:
    key_id: str
    nonce: str


def unseal(key: bytes, purpose: str, value: str | None, now: datetime) -> Seal | None:
    """What a sealed value names, or None when it is forged, of another purpose or expired."""
    body, _, tag = (value or "").rpartition(".")
    key_id, _, rest = body.partition(".")
    stamp, _, nonce = rest.partition(".")
    if not (key_id and nonce and stamp.isdigit() and len(stamp) <= 11):
        return None
    if not hmac.compare_digest(_tag(key, purpose, body), tag):
        return None
    return Seal(key_id, nonce) if int(stamp) > now.timestamp() else None


def sign_in_link(rt: Runtime, key_id: str) -> str:
    """A link that signs a person in as ``key_id`` for LINK_LIFETIME (feedloop keys link)."""
    token = seal(rt.secret_key, SIGN_IN_LINK, key_id, rt.clock() + LINK_LIFETIME)
    return f"{rt.base_url.rstrip('/')}/signin?token={quote(token)}"


def _set_cookie(rt: Runtime, request: Request, response: Response, name: str, value: str,
                max_age: timedelta) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Lax",
                        secure=request.scheme == "https" or rt.base_url.startswith("https:"))


def start_session(rt: Runtime, request: Request, response: Response, key_id: str) -> None:
    """Give ``response`` the cookie of a new session of ``key_id``."""
    # The seal's expiry is what counts; Max-Age only tells the browser when to drop it.
    _set_cookie(rt, request, response, COOKIE,
                seal(rt.secret_key, SESSION, key_id, rt.clock() + SESSION_LIFETIME),
                SESSION_LIFETIME)
    response.delete_cookie(SIGN_IN_COOKIE, path="/", httponly=True, samesite="Lax")


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Lax")


def sign_in_subject(request: Request) -> str:
    """The CSRF subject of this browser's sign-in form (a new one without its cookie)."""
    return f"sign-in:{request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(12)}"


def keep_sign_in_subject(rt: Runtime, request: Request, response: Response,
                         subject: str) -> None:
    """Let the browser keep the nonce of the sign-in form it was given."""
    _set_cookie(rt, request, response, SIGN_IN_COOKIE, subject.removeprefix("sign-in:"),
                CSRF_MAX_AGE)


@dataclass(frozen=True)
class Visitor:
    """The person (or script) behind a request of the account pages."""

    principal: Principal
    #: The session's nonce: the subject of its forms' CSRF tokens (None for HTTP Basic).
    nonce: str | None

    def csrf(self, rt: Runtime) -> str:
        return issue_csrf(rt.secret_key, f"session:{self.nonce}", rt.clock())


def visitor(rt: Runtime, request: Request, scope: str) -> Visitor:
    """The signed-in person, or a script's HTTP Basic key; refused unless it has ``scope``."""
    if request.authorization is not None:
        return Visitor(authenticated(rt, request, scope), None)
    sealed = unseal(rt.secret_key, SESSION, request.cookies.get(COOKIE), rt.clock())
    if sealed is None:
        raise Unauthorized("Sign in to see this page.")
    principal = principal_of_key(rt, sealed.key_id)
    principal.require(scope)
    return Visitor(principal, sealed.nonce)


def require_form(rt: Runtime, request: Request, who: Visitor) -> None:
    """Refuse a form that was not served by us to this session, recently."""
    if who.nonce is None or not check_csrf(rt.secret_key, f"session:{who.nonce}",
                                           request.form.get(CSRF_FIELD), rt.clock()):
        raise Forbidden("This form has expired or was not sent from our page: load the page "
                        "again and repeat.")


def wants_page(request: Request) -> bool:
    """A browser asks for HTML; a script without credentials gets a Basic challenge instead."""
    return "text/html" in request.headers.get("Accept", "")


def sign_in_redirect(request: Request, error: DomainError) -> Response | None:
    """Send a person without a session to the sign-in page, back here afterwards."""
    if not isinstance(error, Unauthorized) or not wants_page(request) \
            or request.authorization is not None:
        return None
    here = request.full_path.rstrip("?") if request.method == "GET" else "/home"
    response = redirect(f"{request.script_root}/signin?next={quote(here)}", 303)
    end_session(response)
    return response
