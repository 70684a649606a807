"""The operation catalogue: every public operation, its scope, messages and errors.

Both doors are generated from this table, so an operation exists on SOAP and
XML-RPC with the same name, fields, scope check and error codes. The
isolation and scope tests walk it too.

``@operation`` says everything about an operation where it is defined: its
scope, whether a successful call is written to the audit log (``audited``:
changes an account owner must be able to trace, never reads), and the domain
errors it may answer with besides ``COMMON_ERRORS`` (the WSDL declares them as
the operation's faults). Nothing is implied by the operation's name. A module
of operations registers them when it is imported: service/services/__init__.py
lists those modules in one place.
"""
from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any, Callable

from service.domain.errors import (DomainError, Forbidden, InternalError, InvalidEmail,
                                   InvalidRequest, RequestTooLarge, TooManyRequests,
                                   Unauthorized, Unavailable, ValidationError)

SCOPES = ("trigger", "read", "admin")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an API key of one account with its scopes."""

    account_id: int
    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        # admin is the account owner's key: it may do everything the others may.
        return scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.allows(scope):
            raise Forbidden(f"This operation needs an API key with the '{scope}' scope; "
                            f"this key has: {', '.join(sorted(self.scopes))}.")


@dataclass(frozen=True)
class Operation:
    name: str                       # PascalCase, as on SOAP
    func: Callable[..., Any]
    request: type
    result: type
    scope: str
    audited: bool
    doc: str
    errors: tuple[type[DomainError], ...]

    @property
    def method_name(self) -> str:
        """The XML-RPC name, e.g. feedloop.get_tracking_url."""
        return "feedloop." + re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()


OPERATIONS: dict[str, Operation] = {}

#: Every operation may answer with these: the caller's credentials and scope, the
#: request's shape (InvalidEmail is the ValidationError of an email, wherever one is
#: read), and what any call over HTTP may meet (a throttle, a size limit, a malformed
#: envelope, an error or outage on our side). The WSDL declares them all.
COMMON_ERRORS = (Unauthorized, Forbidden, ValidationError, InvalidEmail, TooManyRequests,
                 InvalidRequest, RequestTooLarge, InternalError, Unavailable)
#: The door-level part of those: what any call over HTTP may meet before or around its
#: operation (the API reference lists them once rather than per operation).
DOOR_ERRORS = (TooManyRequests, RequestTooLarge, InvalidRequest, InternalError, Unavailable)


# Registration runs at import, before mutmut can switch a mutant on: its mutants could
# never be killed, so they are not made (the scope matrix and the doors' tests cover it).
def operation(name: str, *, scope: str, audited: bool,
              errors: tuple[type[DomainError], ...]
              ) -> Callable[[Callable], Callable]:  # pragma: no mutate block
    """Register a use case ``func(rt, principal, request) -> result`` as public operation ``name``."""
    assert scope in SCOPES

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(func)
        doc = (func.__doc__ or "").strip().splitlines()[0]
        assert name not in OPERATIONS, name
        OPERATIONS[name] = Operation(name, func, hints["request"], hints["return"], scope,
                                     audited, doc,
                                     tuple(dict.fromkeys(COMMON_ERRORS + tuple(errors))))
        return func

    return register


def invoke(rt: Any, principal: Principal, op: Operation, request: Any) -> Any:
    """Run one operation for an authenticated caller: the scope check, the use case, the audit."""
    principal.require(op.scope)
    result = op.func(rt, principal, request)
    if op.audited:
        with rt.uow() as uow:
            uow.audit.add(principal.account_id, principal.key_id, op.name,
                          audit_target(request, result), rt.clock())
            uow.commit()
    return result


def audit_target(request: Any, result: Any) -> str:
    """What an admin operation acted on, by id only: the audit log holds no personal data."""
    parts = []
    for message in (request, result):
        for name, value in vars(message).items():
            if (name.endswith("_id") and value is not None
                    and f"{name}={value}" not in parts):
                parts.append(f"{name}={value}")
    return " ".join(parts)
