"""The SOAP answer of an operation, written straight from its result message.

Spyne builds an object per value and an lxml element per field before it writes a
byte; for a 10,000-row AddRespondents that was a third of the call. The answer's
shape is fixed by the catalogue (the same field specs that give the WSDL its
types), so it is written here as text, exactly as Spyne's Soap11 would write it:
the wrapper ``<tns:OpResponse><tns:OpResult>``, fields in declaration order, None
left out, lists as repeated elements, booleans as true/false, date-times in ISO
8601. tests/integration/test_doors_in_process.py validates answers against the
served WSDL's schema.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any

from service.services.schema import fields_of
from service.soap.faults import SOAP11_ENV, TNS

_HEAD = ("<?xml version='1.0' encoding='UTF-8'?>\n"
         f'<soap11env:Envelope xmlns:soap11env="{SOAP11_ENV}" xmlns:tns="{TNS}">'
         "<soap11env:Body>")
_TAIL = "</soap11env:Body></soap11env:Envelope>"
#: Characters XML 1.0 cannot carry at all; lxml refuses them, and so do we.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def encode_result(operation: str, result: Any) -> bytes:
    """The whole SOAP 1.1 envelope answering ``operation`` with ``result``."""
    parts = [_HEAD, f"<tns:{operation}Response><tns:{operation}Result>"]
    _write_fields(parts, result)
    parts.append(f"</tns:{operation}Result></tns:{operation}Response>{_TAIL}")
    return "".join(parts).encode("utf-8")


def _write_fields(parts: list[str], message: Any) -> None:
    for spec in fields_of(type(message)):
        value = getattr(message, spec.name)
        if value is None:
            continue
        for item in (value if spec.is_list else (value,)):
            parts.append(f"<tns:{spec.name}>")
            if dataclasses.is_dataclass(item):
                _write_fields(parts, item)
            else:
                parts.append(_text(item))
            parts.append(f"</tns:{spec.name}>")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if _NOT_XML.search(value):
            raise ValueError("a text value holds a character XML cannot carry")
        return value.translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)
