"""Outbound HTTP for the worker: signed JSON POSTs with a timeout, 2xx or an error."""
from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta
from email.utils import parsedate_to_datetime

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


def post_signed(url: str, body: bytes, message_id: str, secret: str | None) -> int:
    """POST ``body``; the HTTP status when 2xx, OutboundError for anything else."""
    headers = signed_headers(secret, message_id, int(time.time()), body) if secret else \
        {"Content-Type": "application/json", "webhook-id": message_id}
    headers["User-Agent"] = "feedloop-webhooks/1"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        # No redirects are followed for a POST by urllib: a 3xx is an error, as it should be.
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        raise OutboundError(f"HTTP {error.code}", _retry_after(error.headers.get("Retry-After"))) \
            from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise OutboundError(f"unreachable: {getattr(error, 'reason', error)}") from None


def push_contact(crm: dict, payload: dict, message_id: str) -> None:
    """Upsert a contact in the account's CRM (SALESmanago or the generic signed POST)."""
    if crm["connector"] == "generic":
        body = json.dumps({"event": "contact.upsert", **payload}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        post_signed(crm["endpoint"], body, message_id, crm["secret"])
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
    request = urllib.request.Request(crm["endpoint"] + "/api/contact/upsert", data=data,
                                     method="POST", headers={
                                         "Content-Type": "application/json;charset=UTF-8",
                                         "Accept": "application/json",
                                         "Idempotency-Key": message_id})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            reply = json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise OutboundError(f"HTTP {error.code}", _retry_after(error.headers.get("Retry-After"))) \
            from None
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as error:
        raise OutboundError(f"unreachable: {getattr(error, 'reason', error)}") from None
    if not reply.get("success"):
        raise OutboundError(f"SALESmanago refused: {reply.get('message')}")
