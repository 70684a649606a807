"""The SOAP 1.1 door around any Spyne service: guard, authentication, fault mapping, WSDL.

Operations are plain ``@rpc`` methods of ``spyne.Service`` classes given to
``DoorApplication``; a method reads its caller with ``principal_of(ctx)`` and
raises DomainErrors. ``make_soap_app`` puts ``guard.read_call`` and the
``authenticate`` hook in front of Spyne, so Spyne only ever sees a checked,
authenticated, document/literal SOAP 1.1 envelope, and every answer that is
not a result is a SOAP 1.1 fault with a stable code, over HTTP 500.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lxml import etree
from spyne import Application
from spyne.interface.wsdl import Wsdl11
from spyne.model.fault import Fault
from spyne.protocol.soap import Soap11
from spyne.server.http import HttpBase
from spyne.server.wsgi import WsgiApplication

from service.domain.credentials import Credentials
from service.domain.errors import DomainError
from service.http.xmlguard import XmlLimits
from service.soap.faults import TNS, fault_envelope, fault_of, internal_fault, normalised
from service.soap.guard import VersionMismatch, read_call

#: Where the door is mounted (api.md); the WSDL's soap:address is the base URL plus this.
SOAP_PATH = "/soap"

#: Called once per request with the caller's credentials (None when absent);
#: returns the principal the operations see, or raises Unauthorized.
Authenticate = Callable[[Credentials | None], Any]
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

_PRINCIPAL = "feedloop.soap.principal"


class DoorApplication(Application):
    """A Spyne application in urn:feedloop:v1 whose every exception becomes a stable fault.

    DomainError -> ``Client.<Code>``/``Server.<Code>`` with its message; anything
    unexpected -> logged with a reference, ``Server.InternalError`` for the client.
    Spyne's own faults (schema validation, routing) are re-coded by the server
    below, as they arise before or outside this wrapper.
    """

    def __init__(self, services: Sequence[type], name: str = "feedloop") -> None:
        super().__init__(list(services), tns=TNS, name=name,
                         in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())

    def call_wrapper(self, ctx):
        try:
            return super().call_wrapper(ctx)
        except DomainError as error:
            raise fault_of(error) from None
        except Fault:
            raise
        except Exception:
            raise internal_fault(ctx.method_request_string) from None


def principal_of(ctx) -> Any:
    """The principal ``authenticate`` returned for the request of this method context."""
    return ctx.transport.req_env[_PRINCIPAL]


class _SpyneServer(WsgiApplication):
    """Spyne's WSGI server with its own faults re-coded into ours, always over HTTP 500."""

    def handle_error(self, p_ctx, others, error, start_response):
        fixed = normalised(error) if isinstance(error, Fault) else \
            internal_fault("SOAP serialisation")
        if p_ctx.in_error is error:
            p_ctx.in_error = fixed
        p_ctx.out_error = fixed
        p_ctx.transport.resp_code = "500 Internal Server Error"
        return super().handle_error(p_ctx, others, fixed, start_response)


def render_wsdl(app: Application, base_url: str) -> bytes:
    """The WSDL of ``app`` with soap:address ``base_url`` + /soap, the same bytes in every process."""
    # Spyne keeps one Wsdl11 per application (app.interface.docs) and, built a
    # second time, it loses its portType and service: build a fresh one each time.
    # The binding names app.transport, which only a server sets: it is HTTP here.
    app.transport = HttpBase.transport
    wsdl = Wsdl11(app.interface)
    wsdl.build_interface_document(base_url.rstrip("/") + SOAP_PATH)
    return _canonical(wsdl.get_interface_document())


def _canonical(wsdl: bytes) -> bytes:
    # Spyne emits schema types in set order, which changes with each process's
    # hash seed; sorted by kind and name, the contract is byte-for-byte stable.
    root = etree.fromstring(wsdl)
    kinds = {"import": 0, "simpleType": 1, "complexType": 2, "element": 3}
    for schema in root.iter("{http://www.w3.org/2001/XMLSchema}schema"):
        schema[:] = sorted(schema, key=lambda child: (
            kinds.get(etree.QName(child).localname, 9),
            child.get("namespace", ""), child.get("name", "")))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def make_soap_app(app: Application, authenticate: Authenticate, base_url: str,
                  limits: XmlLimits = XmlLimits()) -> WSGIApp:
    """The WSGI application of the door: GET ?wsdl for the contract, POST for calls.

    The served WSDL names ``base_url`` (configuration), never the Host header,
    so it equals ``render_wsdl(app, base_url)`` and the committed contract.
    """
    # Spyne's own cap (2 MiB by default) must not undercut ours, which is
    # checked first; re-serialising without xsi:type can lengthen a body a bit.
    server = _SpyneServer(app, max_content_length=2 * limits.max_bytes)
    wsdl = render_wsdl(app, base_url)
    operations = frozenset(app.interface.service_method_map)

    def soap_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "GET" and environ.get("QUERY_STRING", "").partition("=")[0].lower() == "wsdl":
            return _answer(start_response, "200 OK", wsdl)
        if method != "POST":
            return _answer(start_response, "405 Method Not Allowed", fault_envelope(
                "Client.InvalidRequest", "POST a SOAP 1.1 envelope here, or GET ?wsdl for "
                "the contract."), [("Allow", "GET, POST")])
        try:
            call = read_call(environ, operations, limits)
            principal = authenticate(call.credentials)
        except VersionMismatch as error:
            return _refuse(start_response, "VersionMismatch", str(error))
        except DomainError as error:
            return _refuse(start_response, f"{error.side}.{error.code}", error.message)
        except Exception:
            fault = internal_fault("SOAP request")
            return _refuse(start_response, fault.faultcode, fault.faultstring)
        environ[_PRINCIPAL] = principal
        environ["wsgi.input"] = io.BytesIO(call.document)
        environ["CONTENT_LENGTH"] = str(len(call.document))
        # No charset: Spyne then hands lxml the bytes, already checked to be UTF-8.
        environ["CONTENT_TYPE"] = "text/xml"
        return server(environ, start_response)

    return soap_app


def _refuse(start_response: Callable, code: str, message: str) -> list[bytes]:
    # SOAP 1.1 section 6.2: a fault travels with HTTP 500.
    return _answer(start_response, "500 Internal Server Error", fault_envelope(code, message))


def _answer(start_response: Callable, status: str, data: bytes,
            headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    start_response(status, [("Content-Type", "text/xml; charset=utf-8"),
                            ("Content-Length", str(len(data))), *headers])
    return [data]
