"""Typed messages of the public API and their conversion from and to plain data.

Every operation takes one request dataclass and returns one result dataclass.
Their field names are the wire names on both doors; the SOAP types and the
XML-RPC parameter lists are generated from them, and ``from_plain`` checks
what a door received against the same constraints, so a value is judged the
same way whichever door it came through.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime, timezone
from typing import Any, Union

from service.domain.errors import ValidationError

_MISSING = dataclasses.MISSING

#: The largest whole number a field may hold unless it declares a lower bound: SOAP
#: carries whole numbers as xs:int and the database stores ids as 32-bit INTEGER, so a
#: wider value could neither travel on both doors nor be looked up.
INT_MAX = 2**31 - 1
#: Date-times are accepted within these bounds (UTC): enough for any survey, and far
#: enough from datetime's own limits that adding a validity period or an offset to one
#: can never overflow.
DATETIME_MIN = datetime(1900, 1, 1, tzinfo=timezone.utc)
DATETIME_MAX = datetime(2999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


class MessageShapeError(ValidationError):
    """A field is missing, unknown, of another type or out of its range (the message names it).

    Same public code as any ValidationError; the XML-RPC door reports it with
    the specification's "invalid method parameters" number.
    """


def wire(default: Any = _MISSING, *, max_len: int | None = None, min: int | None = None,
         max: int | None = None, max_items: int | None = None, min_items: int = 0,
         doc: str = "") -> Any:
    """A message field with its wire constraints (length, range, list size) and documentation."""
    meta = {"max_len": max_len, "min": min, "max": max, "max_items": max_items,
            "min_items": min_items, "doc": doc}
    if isinstance(default, list):
        return dataclasses.field(default_factory=list, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One field of a message as the doors see it."""

    name: str
    base: type                 # str, int, bool, float, datetime or a message dataclass
    is_list: bool
    required: bool
    default: Any
    max_len: int | None
    min: int | None
    max: int | None
    max_items: int | None
    min_items: int
    doc: str


def limits_of(spec: FieldSpec) -> str:
    """The constraints of a field in words, as both doors' references print them."""
    limits = []
    if spec.is_list:
        high = f"{spec.max_items:,}" if spec.max_items is not None else "any number of"
        limits.append(f"{spec.min_items} to {high} items" if spec.min_items
                      else f"at most {high} items")
    if spec.base is int:
        low = "" if spec.min is None else f"{spec.min:,}"
        limits.append(f"{low} to {spec.max:,}")
    if spec.max_len is not None:
        limits.append(f"at most {spec.max_len:,} characters")
    if spec.base is datetime:
        limits.append(f"{DATETIME_MIN:%Y-%m-%d} to {DATETIME_MAX:%Y-%m-%d}, no offset means UTC")
    return ", ".join(limits)


def nested_messages(*roots: type) -> list[type]:
    """The message dataclasses the fields of ``roots`` hold, at any depth, each once."""
    found: list[type] = []
    pending = list(roots)
    while pending:
        for spec in fields_of(pending.pop(0)):
            if dataclasses.is_dataclass(spec.base) and spec.base not in found:
                found.append(spec.base)
                pending.append(spec.base)
    return found


_SPEC_CACHE: dict[type, tuple[FieldSpec, ...]] = {}


def fields_of(cls: type) -> tuple[FieldSpec, ...]:
    """The wire fields of a message dataclass, in declaration order."""
    cached = _SPEC_CACHE.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        base, is_list, optional = _unwrap(hints[f.name])
        meta = f.metadata or {}
        has_default = f.default is not _MISSING or f.default_factory is not _MISSING
        default = (f.default if f.default is not _MISSING
                   else f.default_factory() if f.default_factory is not _MISSING else None)
        specs.append(FieldSpec(
            name=f.name, base=base, is_list=is_list, required=not has_default and not optional,
            default=default, max_len=meta.get("max_len"), min=meta.get("min"),
            max=INT_MAX if base is int and meta.get("max") is None else meta.get("max"),
            max_items=meta.get("max_items"),
            min_items=meta.get("min_items", 0), doc=meta.get("doc", "")))
    result = tuple(specs)
    _SPEC_CACHE[cls] = result
    return result


def _unwrap(hint: Any) -> tuple[type, bool, bool]:
    optional = False
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
        origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return item, True, optional
    return hint, False, optional


_KNOWN: dict[type, frozenset[str]] = {}


def from_plain(cls: type, data: Any, path: str = "") -> Any:
    """Build message ``cls`` from plain data (dicts, lists, scalars), checking every constraint.

    A field's path (``respondents[3].email``) is spelled out only for an error: a
    10,000-row call checks 70,000 values that are nearly always right."""
    if not isinstance(data, dict):
        raise MessageShapeError(f"{path or 'the request'} must be a struct.", field=path or None)
    specs = fields_of(cls)
    known = _KNOWN.get(cls)
    if known is None:
        known = _KNOWN[cls] = frozenset(spec.name for spec in specs)
    if not data.keys() <= known:
        unknown = sorted(k for k in data if k not in known)
        raise MessageShapeError(f"'{_join(path, unknown[0])}' is not a field of "
                                f"{cls.__name__}; known fields: {', '.join(sorted(known))}.",
                                field=_join(path, unknown[0]))
    values = {}
    for spec in specs:
        value = data.get(spec.name)
        if value is None:
            if spec.required:
                where = _join(path, spec.name)
                raise MessageShapeError(f"'{where}' is required.", field=where)
            continue
        if spec.is_list:
            if not isinstance(value, (list, tuple)) or (
                    spec.max_items is not None and len(value) > spec.max_items) or (
                    len(value) < spec.min_items):
                _refuse_list(spec, value, _join(path, spec.name))
            values[spec.name] = [_scalar(spec, item, path, i) for i, item in enumerate(value)]
        else:
            values[spec.name] = _scalar(spec, value, path)
    return cls(**values)


def _refuse_list(spec: FieldSpec, value: Any, where: str) -> None:
    if not isinstance(value, (list, tuple)):
        raise MessageShapeError(f"'{where}' must be a list.", field=where)
    if spec.max_items is not None and len(value) > spec.max_items:
        raise MessageShapeError(f"'{where}' has {len(value)} items; at most "
                                f"{spec.max_items} are allowed.", field=where)
    raise MessageShapeError(f"'{where}' needs at least {spec.min_items} item(s).", field=where)


_MESSAGES: dict[type, bool] = {}


def _scalar(spec: FieldSpec, value: Any, path: str, index: int | None = None) -> Any:
    base = spec.base
    kind = type(value)
    if kind is str and base is str and (spec.max_len is None or len(value) <= spec.max_len):
        return value   # the common case, checked first
    where = _join(path, spec.name) if index is None else f"{_join(path, spec.name)}[{index}]"
    is_message = _MESSAGES.get(base)
    if is_message is None:
        is_message = _MESSAGES[base] = dataclasses.is_dataclass(base)
    if is_message:
        return from_plain(base, value, where)
    if base is bool:
        if isinstance(value, bool):
            return value
        # 0 and 1 as numbers too: clients that send the string "1" as <int> mean the same.
        if _is_int(value) and value in (0, 1):
            return value == 1
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise MessageShapeError(f"'{where}' must be a boolean.", field=where)
    if base is int:
        if not (_is_int(value) or isinstance(value, str)):
            raise MessageShapeError(f"'{where}' must be a whole number.", field=where)
        try:
            number = int(value)
        except ValueError:
            raise MessageShapeError(f"'{where}' must be a whole number.", field=where) from None
        if spec.min is not None and number < spec.min:
            raise MessageShapeError(f"'{where}' must be at least {spec.min}.", field=where)
        if spec.max is not None and number > spec.max:
            raise MessageShapeError(f"'{where}' must be at most {spec.max}.", field=where)
        return number
    if base is str:
        # Several XML-RPC libraries send a digit-only string as <int>: an answer "9" or a
        # cursor "1" comes back as a number, which stands for its decimal text.
        if _is_int(value):
            value = str(value)
        if not isinstance(value, str):
            raise MessageShapeError(f"'{where}' must be a string.", field=where)
        if spec.max_len is not None and len(value) > spec.max_len:
            raise MessageShapeError(f"'{where}' is longer than {spec.max_len} characters.",
                                  field=where)
        return value
    if base is datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise MessageShapeError(f"'{where}' must be an ISO 8601 date-time.",
                                      field=where) from None
        if not isinstance(value, datetime):
            raise MessageShapeError(f"'{where}' must be a date-time.", field=where)
        # A date-time without an offset is UTC: the documented convention of both doors.
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        if not DATETIME_MIN <= value <= DATETIME_MAX:
            raise MessageShapeError(f"'{where}' must be from {DATETIME_MIN:%Y-%m-%d} to "
                                    f"{DATETIME_MAX:%Y-%m-%d} (UTC).", field=where)
        return value
    raise TypeError(f"unsupported wire type {base!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
