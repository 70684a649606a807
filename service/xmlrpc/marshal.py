"""Reading XML-RPC calls safely and writing results the way every client can read them.

Result conventions (``to_wire``):

- ``None`` struct members are omitted (``<nil/>`` is an extension many clients
  refuse); ``None`` at top level or inside an array is a server bug (``WireError``).
- ``datetime`` becomes ``dateTime.iso8601`` in UTC: aware values are converted,
  naive values are taken as UTC already. The format has no zone and no fractions
  of a second. ``date`` becomes an ISO 8601 string ("2026-11-02").
- ``Decimal`` becomes a double, ``Enum`` its value, tuples and lists arrays,
  dataclass instances structs of their fields (``dataclasses.fields``, not
  ``asdict``, so the rules above apply inside them too).
- Integers outside XML-RPC's 32-bit ``int``, non-finite floats, strings holding
  characters XML 1.0 cannot carry, and any other type raise ``WireError``.
"""
from __future__ import annotations

import dataclasses
import enum
import math
import re
import xmlrpc.client
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from xml.parsers.expat import ExpatError

from defusedxml import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

_INT_MIN, _INT_MAX = -2**31, 2**31 - 1
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class WireError(TypeError):
    """A result holds a value XML-RPC cannot carry: a bug on our side, never the caller's."""


class UnreadableCall(Exception):
    """The body is not an XML-RPC methodCall we can read; ``code`` says how (fault table key)."""

    def __init__(self, message: str, code: str = "ParseError") -> None:
        super().__init__(message)
        self.code = code


def to_wire(value: Any, path: str = "result") -> Any:
    """The value as plain XML-RPC data, following the conventions of this module."""
    if value is None:
        raise WireError(f"{path} is None, which XML-RPC results never carry.")
    if isinstance(value, (bool, bytes)):
        return value
    if isinstance(value, enum.Enum):
        return to_wire(value.value, path)
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise WireError(f"{path} = {value} is outside XML-RPC's 32-bit int range.")
        return value
    if isinstance(value, (float, Decimal)):
        if not math.isfinite(value):
            raise WireError(f"{path} = {value} is not a finite number.")
        return float(value)
    if isinstance(value, str):
        bad = _NOT_XML_CHAR.search(value)
        if bad:
            raise WireError(f"{path} holds {bad.group()!r}, which XML 1.0 cannot carry.")
        return value
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return _struct(value.items(), path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _struct(((f.name, getattr(value, f.name)) for f in dataclasses.fields(value)),
                       path)
    if isinstance(value, (list, tuple)):
        return [to_wire(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise WireError(f"{path} is a {type(value).__name__}, which XML-RPC cannot carry.")


def _struct(items, path: str) -> dict[str, Any]:
    struct = {}
    for key, item in items:
        if not isinstance(key, str):
            raise WireError(f"{path} has key {key!r}; XML-RPC struct keys are strings.")
        if item is not None:
            struct[key] = to_wire(item, f"{path}.{key}")
    return struct


class _CallReader(xmlrpc.client.Unmarshaller):
    """The stdlib unmarshaller, told that only a methodCall is acceptable."""

    def __init__(self) -> None:
        super().__init__(use_datetime=True, use_builtin_types=True)
        self.root: str | None = None

    def start(self, tag: str, attrs: dict) -> None:
        if self.root is None:
            self.root = tag
        super().start(tag, attrs)

    def close(self) -> tuple:
        # A call may omit <params>; the stock close() calls that an error, and
        # turns a <fault> into an exception built from the caller's own struct.
        if self._marks or self._type == "fault":
            raise UnreadableCall("The <params> of the call are incomplete or misplaced.",
                                 "InvalidRequest")
        return tuple(self._stack)


def parse_call(body: bytes) -> tuple[str, tuple]:
    """The method name and parameters of a methodCall, parsed by defusedxml's expat parser."""
    reader = _CallReader()
    parser = DefusedExpatParser(reader, forbid_dtd=True)
    try:
        parser.feed(body)
        parser.close()
        params = reader.close()
    except UnreadableCall:
        raise
    except Exception as error:
        # The stdlib unmarshaller fails on odd input with IndexError, TypeError,
        # ValueError...; whatever it raises, the body was not a readable call.
        raise UnreadableCall(_parse_problem(error)) from None
    name = reader.getmethodname()
    if reader.root != "methodCall" or not name:
        raise UnreadableCall("The document is not an XML-RPC <methodCall> with a <methodName>.",
                             "InvalidRequest")
    return name, params


def _parse_problem(error: Exception) -> str:
    if isinstance(error, ValueError) and "digits" in str(error):
        return "A number in the call has too many digits."
    if isinstance(error, (ExpatError, DefusedXmlException)):
        return f"The call is not acceptable XML ({error})."
    return "The body is not a readable XML-RPC methodCall."


def dump_result(value: Any) -> bytes:
    """A methodResponse carrying one result that ``to_wire`` already shaped."""
    return xmlrpc.client.dumps((value,), methodresponse=True, encoding="utf-8",
                               allow_none=False).encode("utf-8")


def dump_fault(code: int, message: str) -> bytes:
    """A methodResponse carrying a fault."""
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True,
                               encoding="utf-8").encode("utf-8")
