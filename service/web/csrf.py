"""Stateless CSRF tokens for the survey forms: the site has no session to keep one in.

A token is ``<unix time>.<tag>``, the tag an HMAC of the page's subject (the
link's token or public id) and that time under the service's secret key. It
proves the form was served by us for this very link, recently.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

#: A form left open longer than this is sent again (with the answers kept).
MAX_AGE = timedelta(hours=24)
#: Clocks of several app nodes may differ a little.
SKEW = timedelta(minutes=5)


def _tag(key: bytes, subject: str, stamp: int) -> str:
    mac = hmac.new(key, f"feedloop-csrf-v1\x00{subject}\x00{stamp}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode("ascii")


def issue_csrf(key: bytes, subject: str, now: datetime) -> str:
    """A CSRF token for a form about ``subject``."""
    stamp = int(now.timestamp())
    return f"{stamp}.{_tag(key, subject, stamp)}"


def check_csrf(key: bytes, subject: str, value: str | None, now: datetime) -> bool:
    """True when ``value`` was issued by us for ``subject`` within MAX_AGE."""
    stamp_text, _, tag = (value or "").partition(".")
    # Twelve digits would be past the year 9999, which datetime cannot hold.
    if not stamp_text.isdigit() or len(stamp_text) > 11:
        return False
    stamp = int(stamp_text)
    age = now - datetime.fromtimestamp(stamp, now.tzinfo)
    if not -SKEW <= age <= MAX_AGE:
        return False
    return hmac.compare_digest(_tag(key, subject, stamp), tag)
