"""The WSGI application of the XML-RPC door: checks the request, then the dispatcher answers.

Every answer to a POST is HTTP 200 with a methodResponse, faults included, as
the XML-RPC specification wants. Request bodies are taken as sent: a
``Content-Encoding`` other than ``identity`` is refused with a fault, never
decompressed, so a small gzip bomb cannot expand past the body limit.
"""
from __future__ import annotations

from typing import Callable, Iterable

from service.domain.errors import DomainError, InvalidRequest
from service.http.request import basic_credentials, read_body
from service.http.xmlguard import XmlLimits, check_xml
from service.xmlrpc.dispatcher import (MAX_MULTICALL, Authenticate, Dispatcher, domain_fault,
                                       internal_fault)
from service.xmlrpc.marshal import dump_fault
from service.xmlrpc.registry import Registry

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

#: Where the door is mounted: the documented path and the conventional one.
PATHS = ("/xmlrpc", "/RPC2")

_MEDIA_TYPES = {"text/xml", "application/xml"}
_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}
_NOT_POST = b"This is an XML-RPC endpoint: POST a methodCall with Content-Type text/xml.\n"


def make_xmlrpc_app(registry: Registry, authenticate: Authenticate,
                    limits: XmlLimits = XmlLimits(), max_calls: int = MAX_MULTICALL) -> WSGIApp:
    """The WSGI application serving ``registry``; mount it at each of ``PATHS``."""
    dispatcher = Dispatcher(registry, authenticate, max_calls)

    def xmlrpc_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [
                ("Content-Type", "text/plain; charset=utf-8"), ("Allow", "POST"),
                ("Content-Length", str(len(_NOT_POST)))])
            return [_NOT_POST]
        try:
            _check_headers(environ)
            body = read_body(environ, limits.max_bytes)
            check_xml(body, limits)
            response = dispatcher.handle(body, basic_credentials(environ))
        except DomainError as refusal:
            failure = domain_fault(refusal)
            response = dump_fault(failure.faultCode, failure.faultString)
        except Exception:
            failure = internal_fault("request")
            response = dump_fault(failure.faultCode, failure.faultString)
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                  ("Content-Length", str(len(response))),
                                  ("X-Content-Type-Options", "nosniff")])
        return [response]

    return xmlrpc_app


def _check_headers(environ: dict) -> None:
    media, _, parameters = environ.get("CONTENT_TYPE", "").partition(";")
    media = media.strip().lower()
    if media not in _MEDIA_TYPES:
        raise InvalidRequest(f"Content-Type must be text/xml, not '{media or 'none'}'.")
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in _CHARSETS:
            raise InvalidRequest(f"Charset '{charset}' is not accepted; send UTF-8.")
    encoding = environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding != "identity":
        raise InvalidRequest(f"Content-Encoding '{encoding}' is not accepted; "
                             "send the body uncompressed.")
