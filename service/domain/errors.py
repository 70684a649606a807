"""Domain errors: each carries a stable public code shared by every door.

The code is the contract: SOAP faults carry it as ``Client.<Code>`` or
``Server.<Code>``, XML-RPC faults carry its number (see ``XMLRPC_CODES``).
"""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can act on."""

    code = "DomainError"
    #: "Client" when the caller can fix it, "Server" when the fault is ours.
    side = "Client"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ValidationError(DomainError):
    """A value breaks a rule of the operation; the message names the field."""

    code = "ValidationError"

    def __init__(self, message: str, field: str | None = None, **details: object) -> None:
        super().__init__(message, **details)
        self.field = field


class InvalidEmail(ValidationError):
    """An email address is not valid."""

    code = "InvalidEmail"


class NotFound(DomainError):
    """No such object in the caller's account (another account's ids included)."""

    code = "NotFound"


class UnknownCampaign(NotFound):
    """No such campaign in the caller's account."""

    code = "UnknownCampaign"


class Unauthorized(DomainError):
    """No credentials, or a key that is unknown, wrong, revoked or expired."""

    code = "Unauthorized"


class MissingCredentials(Unauthorized):
    """The request carries no credentials at all: the doors answer it with a challenge."""

    code = "Unauthorized"


class Forbidden(DomainError):
    """The key lacks the scope the operation needs."""

    code = "Forbidden"


class Quarantined(DomainError):
    """The contact was surveyed too recently; the message says until when."""

    code = "Quarantined"


class Conflict(DomainError):
    """The state forbids it (answered, expired, paused), or a concurrent repeat."""

    code = "Conflict"


class DuplicateEvent(Conflict):
    """Another request recorded the same event id first (a concurrent repeat)."""

    code = "Conflict"


class Unsubscribed(Conflict):
    """The contact asked never to be surveyed again by this account."""

    code = "Unsubscribed"


class RequestTooLarge(DomainError):
    """The body, a list or a value is larger than its limit."""

    code = "RequestTooLarge"


class TooManyRequests(DomainError):
    """Too many failed authentications: wait and retry."""

    code = "TooManyRequests"


class InvalidRequest(DomainError):
    """The request itself is malformed (not XML, hostile XML, wrong envelope)."""

    code = "InvalidRequest"


class InternalError(DomainError):
    """A failure of ours; the message gives a reference id found in the log."""

    code = "InternalError"
    side = "Server"


class Unavailable(DomainError):
    """An outage (database down, busy or restarting): nothing was recorded unless the
    commit had already happened, so repeating the call with the same event_id after
    ``retry_after`` seconds is safe."""

    code = "Unavailable"
    side = "Server"

    def __init__(self, message: str, retry_after: int = 5, **details: object) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


#: XML-RPC fault numbers, documented per code in the README. Stable forever.
#: Codes of the XML-RPC transport itself follow the specification for
#: fault codes (-32700 parse error ... -32603 internal error).
XMLRPC_CODES: dict[str, int] = {
    "InvalidRequest": -32600,
    "MethodNotFound": -32601,
    "InvalidParams": -32602,
    "InternalError": -32603,
    "ParseError": -32700,
    "ValidationError": 4000,
    "InvalidEmail": 4001,
    "Unauthorized": 4010,
    "Forbidden": 4030,
    "NotFound": 4040,
    "UnknownCampaign": 4041,
    "Conflict": 4090,
    "Quarantined": 4091,
    "Unsubscribed": 4092,
    "RequestTooLarge": 4130,
    "TooManyRequests": 4290,
    "Unavailable": 5030,
}


def all_error_classes() -> list[type[DomainError]]:
    """Every concrete domain error, for tables and tests that must cover them all."""
    found: list[type[DomainError]] = []
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found
