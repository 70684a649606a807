"""Outbound HTTP for the worker: signed JSON POSTs with a timeout, 2xx or an error."""
from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from service.domain.destinations import Destinations, UnresolvedHost
from service.domain.errors import ValidationError
from service.domain.webhooks import headers as signed_headers

TIMEOUT = 15
MAX_RETRY_AFTER = timedelta(hours=24)


class OutboundError(Exception):
    """The receiver did not accept the delivery; ``retry_after`` is its wish, if it said one."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(timedelta(seconds=max(seconds, 0)), MAX_RETRY_AFTER)


def post_signed(url: str, body: bytes, message_id: str, secret: str | None,
                destinations: Destinations) -> int:
    """POST ``body``; the HTTP status when 2xx, OutboundError for anything else."""
    headers = signed_headers(secret, message_id, int(time.time()), body) if secret else \
        {"Content-Type": "application/json", "webhook-id": message_id}
    headers["User-Agent"] = "feedloop-webhooks/1"
    return _post(url, body, headers, destinations)[0]


def push_contact(crm: dict, payload: dict, message_id: str, destinations: Destinations) -> None:
    """Upsert a contact in the account's CRM (SALESmanago or the generic signed POST)."""
    if crm["connector"] == "generic":
        body = json.dumps({"event": "contact.upsert", **payload}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        post_signed(crm["endpoint"], body, message_id, crm["secret"], destinations)
        return
    # SALESmanago's contact upsert: clientId, apiKey, requestTime, sha =
    # SHA-1(apiKey + clientId + apiSecret), owner; the contact by email (or by its
    # contactId when only the id from the survey link is known), custom details
    # as properties, and tags.
    request_time = int(time.time() * 1000)
    body = {"clientId": crm["client_id"], "apiKey": crm["api_key"],
            "requestTime": request_time,
            "sha": hashlib.sha1((crm["api_key"] + crm["client_id"] + crm["secret"]).encode())
            .hexdigest(),
            "owner": crm["owner"], "async": False,
            "contact": {"email": payload["email"]} if payload["email"] else {},
            "properties": payload["fields"], "tags": payload["tags"]}
    if payload["client_id"] and not payload["email"]:
        body["contactId"] = payload["client_id"]
    data = json.dumps(body, ensure_ascii=False).encode()
    _, answer = _post(crm["endpoint"] + "/api/contact/upsert", data, {
        "Content-Type": "application/json;charset=UTF-8", "Accept": "application/json",
        "Idempotency-Key": message_id}, destinations)
    try:
        reply = json.loads(answer or b"{}")
    except ValueError:
        raise OutboundError("SALESmanago answered something other than JSON") from None
    if not reply.get("success"):
        raise OutboundError(f"SALESmanago refused: {reply.get('message')}")


def _post(url: str, data: bytes, headers: dict[str, str], destinations: Destinations
          ) -> tuple[int, bytes]:
    """POST to ``url`` at an address checked just now: the status and body of a 2xx.

    The connection goes to the very address that was checked, so a name that
    resolves differently a moment later (DNS rebinding) cannot redirect it, and
    redirects are not followed: a 3xx is an error like any non-2xx.
    """
    try:
        address = destinations.check(url, "target")
    except ValidationError as error:
        raise OutboundError(f"refused destination: {error.message}") from None
    except UnresolvedHost as error:
        raise OutboundError(f"unreachable: {error} does not resolve") from None
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=TIMEOUT)
    # http.client connects to (host, port); the host stays the name for the Host
    # header and TLS (certificate and SNI), the socket goes to the checked address.
    connection._create_connection = lambda where, *args: socket.create_connection(
        (str(address), where[1]), *args)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    answer = None
    try:
        connection.request("POST", path, body=data, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
    except (OSError, http.client.HTTPException) as error:
        raise OutboundError(f"unreachable: {error}") from None
    finally:
        # An answer that broke off holds the socket open after the connection is closed:
        # closed here, not whenever the garbage collector reaches it.
        if answer is not None:
            answer.close()
        connection.close()
    if not 200 <= answer.status < 300:
        raise OutboundError(f"HTTP {answer.status}", _retry_after(answer.getheader("Retry-After")))
    return answer.status, body
