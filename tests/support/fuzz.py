"""Hypothesis strategies of requests to both doors, generated from the operation catalogue.

A request is drawn as plain data from an operation's request message: each field
is either a value of its type (often at or just beyond its limits, or one of the
words the service knows) or a value of another type; fields go missing and
unknown ones appear. The same plain request is then written as an XML-RPC
methodCall or a SOAP envelope by hand, so that values no client library would
send (an <i8> of 2^63, an id as text) reach the server. ``malformed`` spoils a
written body. The tests assert that the server never answers any of it with an
internal error.
"""
from __future__ import annotations

import base64
import dataclasses
import xmlrpc.client
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import strategies as st

from service.services import OPERATIONS, Operation
from service.services.schema import FieldSpec, fields_of

OPERATION_NAMES = sorted(OPERATIONS)
#: Words the service gives a meaning to, so that drawn requests often get past the shape
#: checks into the rules and the storage.
WORDS = ["", "nps", "rating", "single", "multi", "text", "email", "en", "sv", "cs", "crm",
         "active", "paused", "closed", "campaign", "account", "all", "detractors", "daily",
         "weekly", "02:00", "24:00", "csv", "jsonl", "xml", "admin", "read", "trigger", "add",
         "remove", "replace", "ordinal", "salesmanago", "generic", "pending", "delivered", "dead",
         "ana@example.com", "ANA@Example.com", "bob@example.org", "not-an-email", "a@b",
         "https://example.com/hook", "http://127.0.0.1:9/hook", "ftp://x", "1", "0", "-1",
         "18446744073709551616", "region", "north", "ticket", "T-1"]
BIG = [0, 1, 2, 3, -1, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1]
#: Any printable text XML can carry (no control characters, no lone surrogates).
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
DATETIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                         timezones=st.none() | st.builds(
                             lambda minutes: timezone(timedelta(minutes=minutes)),
                             st.integers(-14 * 60, 14 * 60)))


def wrong_value() -> st.SearchStrategy:
    """A value of any type at all."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.sampled_from(BIG) | TEXT
        | st.floats(allow_nan=False, allow_infinity=False) | DATETIMES | st.binary(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=6)


def value_of(spec: FieldSpec, depth: int, typed: bool) -> st.SearchStrategy:
    """A value for one field: of its type, often near its limits; untyped, sometimes of
    another type."""
    item = _item_of(spec, depth, typed)
    if spec.is_list:
        shortest = spec.min_items if typed else 0
        item = st.lists(item, min_size=shortest, max_size=max(shortest, min(spec.max_items, 3)))
    return item if typed or depth >= 2 else st.one_of(item, wrong_value())


def _item_of(spec: FieldSpec, depth: int, typed: bool) -> st.SearchStrategy:
    base = spec.base
    if dataclasses.is_dataclass(base):
        return message(base, depth + 1, typed)
    if base is bool:
        return st.booleans()
    if base is int:
        low = spec.min if spec.min is not None else -(2**31)
        high = spec.max if spec.max is not None else 2**31 - 1
        within = st.integers(max(low, 0), min(high, 4)) | st.integers(low, high) \
            | st.sampled_from([low, high])
        return within if typed else within | st.sampled_from(BIG + [low - 1, high + 1])
    if base is str:
        longest = spec.max_len or 40
        within = (st.sampled_from(WORDS) | TEXT | st.just("x" * longest)).map(
            lambda text: text[:longest])
        return within if typed else within | st.just("y" * (longest + 1))
    if base is datetime:
        return DATETIMES.filter(lambda moment: 1900 < moment.year < 2999) if typed else DATETIMES
    return wrong_value()


def message(cls: type, depth: int = 0, typed: bool = False) -> st.SearchStrategy:
    """Plain data for message ``cls``: a subset of its fields, each of its type when
    ``typed`` (so that the rules and the storage see it); otherwise also with a required
    field missing, an unknown one, or values of other types."""
    specs = fields_of(cls)
    required = {s.name for s in specs if s.required}
    fields = st.fixed_dictionaries(
        {s.name: value_of(s, depth, typed) for s in specs if s.name in required},
        optional={s.name: value_of(s, depth, typed) for s in specs if s.name not in required})
    if typed:
        return fields
    drop = st.sampled_from(sorted(required)) if required else st.none()
    return st.one_of(
        fields,
        st.tuples(fields, drop).map(lambda pair: {k: v for k, v in pair[0].items()
                                                  if k != pair[1]}),
        st.tuples(fields, TEXT, wrong_value()).map(lambda t: {**t[0], t[1]: t[2]}))


def request_of(op: Operation) -> st.SearchStrategy:
    """A plain request of ``op``: half of them well typed, half anything."""
    return message(op.request, typed=True) | message(op.request)


def request() -> st.SearchStrategy:
    """(operation, plain request) of any operation of the catalogue."""
    return st.sampled_from(OPERATION_NAMES).flatmap(
        lambda name: st.tuples(st.just(OPERATIONS[name]), request_of(OPERATIONS[name])))


# --- XML-RPC ------------------------------------------------------------------------------

def xmlrpc_value(value: Any) -> str:
    """One value as a <value>, with the tag a loosely typed library might choose."""
    if value is None:
        return "<value><nil/></value>"
    if isinstance(value, bool):
        return f"<value><boolean>{int(value)}</boolean></value>"
    if isinstance(value, int):
        tag = "int" if -(2**31) <= value < 2**31 else "i8"
        return f"<value><{tag}>{value}</{tag}></value>"
    if isinstance(value, float):
        return f"<value><double>{value!r}</double></value>"
    if isinstance(value, datetime):
        # XML-RPC's dateTime.iso8601 has no offset
        return f"<value><dateTime.iso8601>{value:%Y%m%dT%H:%M:%S}</dateTime.iso8601></value>"
    if isinstance(value, bytes):
        return f"<value><base64>{base64.b64encode(value).decode()}</base64></value>"
    if isinstance(value, list):
        return "<value><array><data>" + "".join(map(xmlrpc_value, value)) + "</data></array></value>"
    if isinstance(value, dict):
        return "<value><struct>" + "".join(
            f"<member><name>{escape(str(k))}</name>{xmlrpc_value(v)}</member>"
            for k, v in value.items()) + "</struct></value>"
    return f"<value><string>{escape(value)}</string></value>"


def xmlrpc_body(op: Operation, plain: Any) -> bytes:
    return (f"<?xml version='1.0'?><methodCall><methodName>{op.method_name}</methodName>"
            f"<params><param>{xmlrpc_value(plain)}</param></params></methodCall>").encode()


# --- SOAP ---------------------------------------------------------------------------------

ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"


def soap_elements(name: str, value: Any) -> str:
    """``value`` as the element(s) ``name``: a list repeats it, a dict nests its fields."""
    if isinstance(value, list):
        return "".join(soap_elements(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(soap_elements(str(k), v) for k, v in value.items())
    elif value is None:
        inner = ""
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    elif isinstance(value, datetime):
        inner = value.isoformat()
    elif isinstance(value, bytes):
        inner = base64.b64encode(value).decode()
    else:
        inner = escape(str(value))
    tag = name if name.isidentifier() and name.isascii() else "field"
    return f"<f:{tag}>{inner}</f:{tag}>"


def soap_body(op: Operation, plain: Any) -> bytes:
    inner = "".join(soap_elements(k, v) for k, v in plain.items()) if isinstance(plain, dict) \
        else soap_elements("value", plain)
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{ENVELOPE}" '
            f'xmlns:f="urn:feedloop:v1"><s:Body><f:{op.name}>{inner}</f:{op.name}></s:Body>'
            "</s:Envelope>").encode()


# --- malformed bodies ---------------------------------------------------------------------

@st.composite
def malformed(draw, body: bytes) -> bytes:
    """``body`` cut short, with bytes replaced or inserted, or with a piece repeated."""
    spoil = draw(st.sampled_from(["cut", "replace", "insert", "repeat"]))
    at = draw(st.integers(0, len(body)))
    if spoil == "cut":
        return body[:at]
    noise = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
        [b"<", b">", b"&", b"]]>", b"<![CDATA[", b"<!--", b"\xff", b"\x00", b"<x>", b"</"]))
    if spoil == "replace":
        return body[:at] + noise + body[at + len(noise):]
    if spoil == "insert":
        return body[:at] + noise + body[at:]
    end = draw(st.integers(at, min(len(body), at + 40)))
    return body[:end] + body[at:end] * draw(st.integers(2, 20)) + body[end:]


# --- the verdict ----------------------------------------------------------------------------

def server_error(door: str, status: int, body: bytes) -> str | None:
    """What is wrong with an answer, if it says the server failed; None when it does not.

    A client's mistake must come back as a client fault. SOAP 1.1 sends every fault
    with HTTP 500, so there the fault code decides; 503 (try again) is allowed.
    """
    from lxml import etree
    if status == 503:
        return None
    if door == "soap" and status == 500:
        try:
            code = etree.fromstring(body).findtext(f".//{{{ENVELOPE}}}Fault/faultcode") or ""
        except etree.XMLSyntaxError:
            return f"HTTP 500 without a SOAP fault: {body[:200]!r}"
        code = code.split(":")[-1]
        return None if code.startswith(("Client.", "VersionMismatch")) else \
            f"SOAP fault {code}: {body[:300]!r}"
    if status >= 500:
        return f"HTTP {status}: {body[:200]!r}"
    if door == "xmlrpc":
        try:
            xmlrpc.client.loads(body)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == -32603:
                return f"XML-RPC internal error: {fault.faultString}"
    return None
