"""Reading requests safely (bounded bodies, HTTP Basic credentials), and the headers
every door adds to an error answer."""
from __future__ import annotations

import base64
import binascii

from service.domain.credentials import Credentials
from service.domain.errors import DomainError, RequestTooLarge, Unavailable

__all__ = ["CHALLENGE", "UNAUTHENTICATED_BYTES", "UNAUTHORIZED", "Credentials",
           "basic_credentials", "declared_length", "read_body", "retry_after"]

_CHUNK = 64 * 1024
#: The status and challenge (RFC 7235) of a request that carries no credentials, on
#: every door. Many clients send Basic credentials only after this challenge (urllib's
#: HTTPBasicAuthHandler, suds, curl --anyauth, .NET and Java credential handlers); the
#: body still holds the door's fault for those that read it. Wrong credentials get the
#: door's usual fault instead: xmlrpc.client, suds, JAX-WS and WCF turn any 401 into a
#: transport error, and the typed Unauthorized fault would never reach their callers.
UNAUTHORIZED = "401 Unauthorized"
CHALLENGE = [("WWW-Authenticate", 'Basic realm="feedloop"')]
#: What is read of a body before its sender is known to hold a valid key: enough for
#: an XML-RPC introspection call, or a SOAP Header with a WS-Security UsernameToken.
UNAUTHENTICATED_BYTES = 64 * 1024


def read_body(environ: dict, max_bytes: int) -> bytes:
    """Return the request body, refusing it as soon as it exceeds ``max_bytes``.

    The declared Content-Length is checked before reading a byte; a chunked
    body without one is read in pieces and abandoned once it grows too large,
    so memory never exceeds the limit.
    """
    length = declared_length(environ)
    if length is not None and length > max_bytes:
        raise RequestTooLarge(
            f"The request body is {length} bytes; the limit is {max_bytes} bytes.")
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    # PEP 3333: never read past a declared Content-Length (a keep-alive connection
    # would block); without one, read to the end in pieces, bounded by the limit.
    remaining = length
    while remaining is None or remaining > 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise RequestTooLarge(f"The request body exceeds the limit of {max_bytes} bytes.")
        parts.append(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    return b"".join(parts)


def declared_length(environ: dict) -> int | None:
    """The request's Content-Length, None when absent or unreadable (chunked bodies)."""
    try:
        return int((environ.get("CONTENT_LENGTH") or "").strip())
    except ValueError:
        return None


def basic_credentials(environ: dict) -> Credentials | None:
    """Return the HTTP Basic credentials of a request, or None when absent or unreadable."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return Credentials(key_id, secret)


def retry_after(error: DomainError) -> dict[str, str]:
    """The Retry-After header (RFC 9110, in seconds) of an outage; nothing for other errors."""
    return {"Retry-After": str(error.retry_after)} if isinstance(error, Unavailable) else {}
