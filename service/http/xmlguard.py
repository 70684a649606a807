"""Refusing hostile or oversized XML before any protocol library parses it.

Both doors call ``check_xml_headers`` and ``check_xml`` first. They reject what
SOAP 1.1 and XML-RPC never need (DTDs and therefore entities, foreign
encodings and charsets, compressed bodies, processing instructions), and
enforce limits on size, depth, element count and text length: size and element
count from the raw bytes before anything is parsed, the rest over the bounded
tree with XPath, in C.

``check_xml`` returns the tree it built. The doors read what they need from it:
the SOAP door its envelope and credentials, before Spyne parses the same bytes
once more; the XML-RPC door a whole plain call (service/xmlrpc/wire.py), leaving
only other documents to the stdlib's parser.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lxml import etree

from service.domain.errors import InvalidRequest, RequestTooLarge

_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_ACCEPTED_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True)
#: What may precede a DOCTYPE: whitespace, comments and processing instructions.
_PROLOG_ITEM = re.compile(rb"\s+|<!--.*?-->|<\?.*?\?>", re.DOTALL)
_HAS_INSTRUCTIONS = etree.XPath("boolean(//processing-instruction())")
#: The XML declaration, which is no processing instruction though it starts like one.
_XML_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml[ \t\r\n]")


@dataclass(frozen=True)
class XmlLimits:
    max_bytes: int = 16 * 1024 * 1024   # a bulk call of 10,000 rows fits
    max_depth: int = 64
    # 500,000 elements are refused in ~0.3 s on the project machine; a
    # 10,000-row bulk call needs about 150,000.
    max_elements: int = 500_000
    max_text_bytes: int = 1024 * 1024   # any single text node or attribute value


def check_xml_headers(environ: dict) -> str:
    """The request's lower-cased media type, once its charset and Content-Encoding are acceptable.

    Which media types are acceptable is each door's decision; the charset must
    be UTF-8 (or its subset US-ASCII) or absent, and the body uncompressed, so a
    small gzip bomb can never expand past the body limit.
    """
    media, _, parameters = environ.get("CONTENT_TYPE", "").partition(";")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in _ACCEPTED_ENCODINGS:
            raise InvalidRequest(f"Charset '{charset}' is not accepted; send UTF-8.")
    encoding = environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise InvalidRequest(f"Content-Encoding '{encoding}' is not accepted; "
                             "send the body uncompressed.")
    return media.strip().lower()


def check_xml(body: bytes, limits: XmlLimits = XmlLimits()) -> etree._Element:
    """The parsed root of a safe document; InvalidRequest or RequestTooLarge otherwise."""
    if len(body) > limits.max_bytes:
        raise RequestTooLarge(f"The document is {len(body)} bytes; the limit is "
                              f"{limits.max_bytes} bytes.")
    if not body.strip():
        raise InvalidRequest("The request body is empty; an XML document was expected.")
    _check_encoding(body)
    if _has_doctype(body):
        raise _doctype_refused()
    # Each element has exactly one start tag: '<' not followed by '/'. Counted at C
    # speed (comments and PIs count too, erring on the side of refusal), this bounds
    # the tree before a byte is parsed, so a flood of tiny elements costs nothing.
    starts = body.count(b"<") - body.count(b"</")
    if starts > limits.max_elements:
        raise RequestTooLarge(f"The document has more than {limits.max_elements} elements.")
    # lxml keeps one error log per thread across parses: emptied here, its last
    # entry can only be about this document, never about a previous request's.
    etree.clear_error_log()
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise _syntax_refusal(error, limits) from None
    # Never true while _has_doctype is right; kept because a DTD that slipped
    # through would be the costliest mistake.
    if root.getroottree().docinfo.doctype:
        raise _doctype_refused()
    # The other limits are XPath queries over the bounded tree, evaluated in C: a
    # Python loop over 500,000 elements took most of a second. Each is compiled once,
    # and skipped where the bytes already settle it (most of a small call's check
    # was compiling and running them): a tree of N elements is at most N deep, and
    # a text or attribute value is never longer than the document.
    too_deep, too_long = _queries(limits)
    if starts > limits.max_depth and too_deep(root):
        raise InvalidRequest(f"The document is nested deeper than {limits.max_depth} levels.")
    if len(body) > limits.max_text_bytes and _may_hold_long_text(body, limits.max_text_bytes) \
            and too_long(root):
        raise RequestTooLarge(f"A text value is longer than {limits.max_text_bytes} bytes.")
    # A processing instruction starts with '<?', as does the XML declaration (not one):
    # without another '<?' in the bytes, the tree holds none.
    if body.count(b"<?") > (1 if _XML_DECLARATION.match(body) else 0) \
            and _HAS_INSTRUCTIONS(root):
        raise InvalidRequest("Processing instructions are not accepted.")
    return root


@functools.cache
def _queries(limits: XmlLimits) -> tuple[etree.XPath, etree.XPath]:
    """Whether a tree is nested deeper than the limits allow, and whether it holds a longer
    text or attribute value (lxml's XPath objects serialise their own evaluations)."""
    return (etree.XPath("boolean(" + "/*" * (limits.max_depth + 1) + ")"),
            # "or", not a union: no node-set to sort into document order.
            etree.XPath(f"//text()[string-length() > {limits.max_text_bytes}]"
                        f" or //@*[string-length() > {limits.max_text_bytes}]"))


def _may_hold_long_text(body: bytes, limit: int) -> bool:
    """Whether a text or attribute value of the document could be longer than ``limit``.

    Each lies between two '<' of the bytes, and is never longer in characters than there
    in bytes (the only references are the predefined entities and characters, which are
    longer than what they stand for), unless a CDATA section (which may hold '<') or a
    comment (whose removal joins the texts around it) is there: then the tree is asked.
    A run of more than ``limit`` bytes without '<' holds a whole one of the windows of
    ``limit // 2 + 1`` bytes laid end to end from the start, so only those windows are
    searched: a few ``find`` calls for a 10,000-row call, where splitting its bytes at
    every '<' took 35 ms."""
    if b"<![CDATA[" in body or b"<!--" in body:
        return True
    width = limit // 2 + 1
    return any(body.find(b"<", start, start + width) == -1
               for start in range(0, len(body) - width + 1, width))


def _has_doctype(body: bytes) -> bool:
    """Whether the prolog, the only place XML allows one, holds a document type declaration.

    Looking only there keeps '<!DOCTYPE html>' inside a CDATA section (an
    e-mail template, say) acceptable.
    """
    position = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    while item := _PROLOG_ITEM.match(body, position):
        position = item.end()
    return body.startswith(b"<!DOCTYPE", position)


def _doctype_refused() -> InvalidRequest:
    return InvalidRequest("Document type declarations (DOCTYPE) are not accepted, "
                          "so neither are entities other than the five predefined ones.")


def _syntax_refusal(error: etree.XMLSyntaxError, limits: XmlLimits) -> Exception:
    # The feed parser's own message is often just "no element found": libxml2's
    # last error says what actually went wrong.
    last = error.error_log.last_error
    message = (last.message if last is not None else error.msg).strip()
    # libxml2's own hard limits can trip inside a chunk before our counters do.
    if "Excessive depth" in message:
        return InvalidRequest(f"The document is nested deeper than {limits.max_depth} levels.")
    if "too long" in message or "Resource limit exceeded" in message:
        return RequestTooLarge(f"A text value is longer than {limits.max_text_bytes} bytes.")
    where = f" (line {last.line}, column {last.column})" if last is not None else ""
    return InvalidRequest(f"The request is not well-formed XML: {message}{where}.")


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
