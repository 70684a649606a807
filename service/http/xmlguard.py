"""Refusing hostile or oversized XML before any protocol library parses it.

Both doors call ``check_xml`` first. It rejects what SOAP 1.1 and XML-RPC
never need (DTDs and therefore entities, foreign encodings, processing
instructions), and enforces limits on size, depth, element count and text
length while parsing incrementally, so a hostile document costs at most one
bounded pass and is abandoned as soon as it crosses a limit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from service.domain.errors import InvalidRequest, RequestTooLarge

_CHUNK = 64 * 1024
_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_ACCEPTED_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii"}


@dataclass(frozen=True)
class XmlLimits:
    max_bytes: int = 16 * 1024 * 1024   # a bulk call of 10,000 rows fits
    max_depth: int = 64
    max_elements: int = 500_000
    max_text_bytes: int = 1024 * 1024   # any single text node or attribute value


def check_xml(body: bytes, limits: XmlLimits = XmlLimits()) -> etree._Element:
    """The parsed root of a safe document; InvalidRequest or RequestTooLarge otherwise."""
    if len(body) > limits.max_bytes:
        raise RequestTooLarge(f"The document is {len(body)} bytes; the limit is "
                              f"{limits.max_bytes} bytes.")
    if not body.strip():
        raise InvalidRequest("The request body is empty; an XML document was expected.")
    _check_encoding(body)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise InvalidRequest("Document type declarations (DOCTYPE, ENTITY) are not accepted.")
    # Every element takes at least one '<' and most take two: counting them at C
    # speed refuses a flood of tiny elements before a single one is parsed.
    if body.count(b"<") > 2 * limits.max_elements:
        raise RequestTooLarge(f"The document has more than {limits.max_elements} elements.")
    parser = etree.XMLPullParser(events=("start", "end", "pi"), resolve_entities=False,
                                 no_network=True, load_dtd=False, huge_tree=False,
                                 remove_comments=True)
    depth = elements = 0
    try:
        for offset in range(0, len(body), _CHUNK):
            parser.feed(body[offset:offset + _CHUNK])
            for event, element in parser.read_events():
                if event == "start":
                    depth += 1
                    elements += 1
                    if depth > limits.max_depth:
                        raise InvalidRequest(f"The document is nested deeper than "
                                             f"{limits.max_depth} levels.")
                    if elements > limits.max_elements:
                        raise RequestTooLarge(f"The document has more than "
                                              f"{limits.max_elements} elements.")
                    _check_attributes(element, limits)
                elif event == "end":
                    depth -= 1
                    _check_text(element.text, limits)
                    _check_text(element.tail, limits)
                else:
                    raise InvalidRequest("Processing instructions are not accepted.")
        root = parser.close()
    except etree.XMLSyntaxError as error:
        # libxml2's own hard limits can trip inside a chunk before our counters do.
        if "Excessive depth" in error.msg:
            raise InvalidRequest(f"The document is nested deeper than {limits.max_depth} "
                                 "levels.") from None
        if "too long" in error.msg:
            raise RequestTooLarge(f"A text value is longer than {limits.max_text_bytes} "
                                  "bytes.") from None
        raise InvalidRequest(f"The request is not well-formed XML: {error.msg}.") from None
    return root


def _check_encoding(body: bytes) -> None:
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or body[:4] in (b"\x00<\x00?", b"<\x00?\x00"):
        raise InvalidRequest("Only UTF-8 documents are accepted.")
    declared = _DECLARATION.match(body.lstrip(b"\xef\xbb\xbf"))
    if declared and declared.group(1).decode("ascii").lower() not in _ACCEPTED_ENCODINGS:
        raise InvalidRequest(f"Encoding '{declared.group(1).decode('ascii')}' is not accepted; "
                             "send UTF-8.")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"The document is not valid UTF-8 (byte {error.start}).") from None


def _check_text(text: str | None, limits: XmlLimits) -> None:
    # Characters, not bytes: a cheap bound that is never looser than 4x the byte limit.
    if text is not None and len(text) > limits.max_text_bytes:
        raise RequestTooLarge(f"A text value is longer than {limits.max_text_bytes} bytes.")


def _check_attributes(element: etree._Element, limits: XmlLimits) -> None:
    for value in element.attrib.values():
        _check_text(value, limits)
