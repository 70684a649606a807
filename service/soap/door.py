"""The SOAP door: a guard in front of Spyne, authentication, and error mapping.

Everything a hostile or confused client can send is judged here before Spyne
parses a byte (traps.md): size, content type, charset, DTDs and entities,
depth and element count, SOAP-encoding references, SOAPAction spoofing. Every
refusal is a SOAP 1.1 fault with a stable code, never an HTML 500.
"""
from __future__ import annotations

import io
import logging
import re
from typing import Any, Callable, Iterable

from lxml import etree
from spyne import Application, const as spyne_const
from spyne.model.fault import Fault
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from service.domain.credentials import Credentials
from service.domain.errors import (DomainError, InvalidRequest, MissingCredentials,
                                   Unauthorized, Unavailable)
from service.http.request import (CHALLENGE, UNAUTHENTICATED_BYTES, UNAUTHORIZED,
                                  basic_credentials, declared_length, read_body, retry_after)
from service.http.xmlguard import XmlLimits, check_xml, check_xml_headers
from service.services import OPERATIONS, Operation, Runtime, invoke
from service.services.keys import authenticate
from service.soap.faults import (SOAP11_ENV, SOAP12_ENV, TNS, fault_class, fault_envelope,
                                 fault_of, internal_fault, normalised)
from service.soap.operations import build_service
from service.soap.reader import ArgumentReader
from service.telemetry import FAULTS, observe_call

log = logging.getLogger("feedloop.soap")
# Spyne logs every client fault with a traceback at ERROR: a caller's mistake is not ours.
logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)
# Spyne runs a full gc.collect() once a second from MethodContext.close, to close
# files of its file-serving protocols; we serve none, and a full collection under
# load cost 12% of a call. CPython's generational collector is enough.
spyne_const.MIN_GC_INTERVAL = float("inf")

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-username-token-profile-1.0#PasswordText")
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
ENCODING_STYLE = f"{{{SOAP11_ENV}}}encodingStyle"
REFERENCE_ATTRIBUTES = {"href", "id", "{http://www.w3.org/XML/1998/namespace}id"}
USERNAME_TOKEN = f"{{{WSSE}}}UsernameToken"
SECURITY_PATH = [f"{{{WSSE}}}Security", f"{{{SOAP11_ENV}}}Header", f"{{{SOAP11_ENV}}}Envelope"]
PRINCIPAL = "feedloop.principal"
RUNTIME = "feedloop.runtime"
DOCUMENT = "feedloop.document"
LIMITS = XmlLimits()


class _GuardedSoap11(Soap11):
    """SOAP 1.1 that takes the envelope the guard has already parsed and checked.

    The guard refuses SOAP-encoding ids, so there are no xml:ids to collect.
    Schema validation of the Body still happens, as with any Soap11 input.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.arguments = ArgumentReader(self)

    def create_in_document(self, ctx, charset=None):
        ctx.in_document = (ctx.transport.req_env[DOCUMENT], {})

    def decompose_incoming_envelope(self, ctx, message=Soap11.REQUEST):
        # Spyne's, with the Header and Body found by tag (lxml's find, in C) where Spyne
        # compiles two XPath expressions on every call (3 % of a single-row call); the
        # guard has already refused xml:ids to resolve and any envelope without a Body.
        envelope, _ = ctx.in_document
        header, body = envelope_parts(envelope)
        ctx.in_document = envelope
        if body is not None and body.tag == f"{{{SOAP11_ENV}}}Fault":
            ctx.in_body_doc = body
        else:
            ctx.in_header_doc = header
            ctx.in_body_doc = body
            ctx.method_request_string = body.tag
            self.validate_body(ctx, message)

    def deserialize(self, ctx, message):
        # The Body is schema-valid by now (decompose_incoming_envelope validated it):
        # its arguments are read as plain values (service/soap/reader.py), or by Spyne.
        body = ctx.in_body_doc
        if message is self.REQUEST and body is not None and ctx.descriptor.in_header is None \
                and body.tag != f"{{{SOAP11_ENV}}}Fault":
            arguments = self.arguments.read_arguments(ctx, ctx.descriptor.in_message, body)
            if arguments is not None:
                self.event_manager.fire_event("before_deserialize", ctx)
                ctx.in_object = arguments
                self.event_manager.fire_event("after_deserialize", ctx)
                return
        super().deserialize(ctx, message)


def envelope_parts(envelope: etree._Element) -> tuple[list | None, etree._Element | None]:
    """(the Header's children, the Body's first element) of a SOAP 1.1 envelope, each None
    when absent: what spyne.protocol.soap.soap11._from_soap gives."""
    header = envelope.find(f"{{{SOAP11_ENV}}}Header")
    body = envelope.find(f"{{{SOAP11_ENV}}}Body")
    if header is None and body is None:
        raise Fault("Client.SoapError", "Soap envelope is empty!")
    return (header.getchildren() if header is not None else None,
            body[0] if body is not None and len(body) else None)


class FeedloopApplication(Application):
    """Spyne application whose call wrapper maps every exception through one table."""

    def __init__(self) -> None:
        service = build_service(_call, lambda op: [fault_class(e) for e in op.errors])
        super().__init__([service], tns=TNS, name="feedloop",
                         in_protocol=_GuardedSoap11(validator="lxml"), out_protocol=Soap11())

    def call_wrapper(self, ctx):
        try:
            return super().call_wrapper(ctx)
        except DomainError as error:
            ctx.transport.resp_code = _status_of(error)
            ctx.transport.resp_headers.update(retry_after(error))
            raise fault_of(error) from None
        except Fault:
            raise
        except Exception:
            raise internal_fault(getattr(ctx, "method_request_string", "SOAP call")) from None


def _call(ctx, op: Operation, request: Any) -> Any:
    environ = ctx.transport.req_env
    with observe_call("soap", op.name):
        return invoke(environ[RUNTIME], environ[PRINCIPAL], op, request)


class _SpyneServer(WsgiApplication):
    """Spyne's WSGI server with its own faults re-coded into ours."""

    def handle_error(self, p_ctx, others, error, start_response):
        fixed = normalised(error) if isinstance(error, Fault) else \
            internal_fault("SOAP serialisation")
        if p_ctx.in_error is error:
            p_ctx.in_error = fixed
        p_ctx.out_error = fixed
        if p_ctx.transport.resp_code is None:
            p_ctx.transport.resp_code = "500 Internal Server Error"
        # Written by us, as the guard's refusals are: Spyne would put the detail's
        # fields beside faultcode instead of inside <detail>.
        p_ctx.out_string = [fault_envelope(fixed)]
        return super().handle_error(p_ctx, others, fixed, start_response)


def _application(base_url: str) -> tuple[_SpyneServer, bytes]:
    app = FeedloopApplication()
    # Our guard reads and limits the body; Spyne is handed the parsed envelope.
    server = _SpyneServer(app, max_content_length=LIMITS.max_bytes)
    server.doc.wsdl11.build_interface_document(base_url + "/soap")
    return server, _canonical(server.doc.wsdl11.get_interface_document())


#: Documentation of the service and its port, for the integrator reading the WSDL.
SERVICE_DOC = ("feedloop: transactional surveys. SOAP 1.1 document/literal, namespace "
               f"{TNS}; the same operations are on XML-RPC at /xmlrpc. Authenticate with "
               "HTTP Basic KEYID:SECRET (answered by a 401 challenge when missing) or a "
               "WS-Security UsernameToken. Every fault carries its declared detail element "
               "(code, message and its data); docs/api-evolution.md says how v1 evolves.")
PORT_DOC = "The SOAP 1.1 endpoint (POST text/xml; GET ?wsdl for this contract)."
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_QNAME_PREFIX = re.compile(rb'="([A-Za-z_][\w.-]*):(?!/)')


def _canonical(wsdl: bytes) -> bytes:
    """The WSDL as published: sorted, documented, without unused namespaces, indented.

    Spyne emits types in set order, which changes with the hash seed of each
    process; sorted, the contract is byte-for-byte the same everywhere. Spyne
    declares namespaces of protocols we do not speak (SOAP 1.2, WS-Addressing,
    XOP, partner links): toolkits then generate or warn about them. Indented, a
    toolkit's error names a useful line.
    """
    root = etree.fromstring(wsdl)
    kinds = {"import": 0, "simpleType": 1, "complexType": 2, "element": 3}
    for schema in root.iter("{http://www.w3.org/2001/XMLSchema}schema"):
        children = list(schema)
        children.sort(key=lambda child: (kinds.get(etree.QName(child).localname, 9),
                                         child.get("namespace", ""), child.get("name", "")))
        schema[:] = children
    service = root.find(f"{{{_WSDL}}}service")
    for element, text in ((service, SERVICE_DOC), (service[0], PORT_DOC)):
        element.insert(0, etree.Element(f"{{{_WSDL}}}documentation"))
        element[0].text = text
    # Prefixes used only in attribute values (type="tns:X") count as used too.
    used = {prefix.decode() for prefix in _QNAME_PREFIX.findall(etree.tostring(root))}
    etree.cleanup_namespaces(root, keep_ns_prefixes=sorted(used))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def render_wsdl(base_url: str) -> bytes:
    """The WSDL as served by an instance whose public base URL is ``base_url``."""
    return _application(base_url)[1]


def create_soap_app(rt: Runtime) -> Callable:
    """The WSGI application of /soap: GET ?wsdl for the contract, POST for calls."""
    server, wsdl = _application(rt.base_url)

    def soap(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "GET" and environ.get("QUERY_STRING", "").split("=")[0].lower() == "wsdl":
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                      ("Content-Length", str(len(wsdl)))])
            return [wsdl]
        if method != "POST":
            return _refuse(start_response, fault_of(InvalidRequest(
                "POST a SOAP 1.1 envelope here, or GET ?wsdl for the contract.")),
                "405 Method Not Allowed", [("Allow", "GET, POST")])
        # A request without a Basic header is challenged only after the head of its body
        # was searched for a WS-Security UsernameToken (see _credentials).
        try:
            _check_media_type(check_xml_headers(environ))
            # Who is calling is known before the body is parsed: a caller without
            # valid credentials costs at most UNAUTHENTICATED_BYTES of reading.
            environ[PRINCIPAL] = authenticate(rt, _credentials(environ),
                                              environ.get("REMOTE_ADDR"))
            root = _guarded_envelope(environ)
        except MissingCredentials as error:
            return _refuse(start_response, fault_of(error), UNAUTHORIZED, CHALLENGE)
        except DomainError as error:
            return _refuse(start_response, fault_of(error), _status_of(error),
                           list(retry_after(error).items()))
        except Exception:
            return _refuse(start_response, internal_fault("SOAP guard"))
        environ[RUNTIME] = rt
        environ[DOCUMENT] = root
        # Spyne reads the body before it asks for the document: an empty one will do.
        environ["wsgi.input"] = io.BytesIO(b"")
        environ["CONTENT_LENGTH"] = "0"
        environ["CONTENT_TYPE"] = "text/xml; charset=utf-8"
        return server(environ, start_response)

    return soap


def _status_of(error: DomainError) -> str:
    # An outage is 503 so that proxies, load balancers and HTTP client libraries
    # recognise it as temporary; every other fault keeps SOAP 1.1's 500.
    return "503 Service Unavailable" if isinstance(error, Unavailable) \
        else "500 Internal Server Error"


def _refuse(start_response: Callable, fault: Fault,
            status: str = "500 Internal Server Error",
            headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    # SOAP 1.1 section 6.2: a fault travels with HTTP 500 (but for a challenge).
    FAULTS.labels("soap", fault.detail["code"]).inc()
    data = fault_envelope(fault)
    start_response(status, [("Content-Type", "text/xml; charset=utf-8"),
                            ("Content-Length", str(len(data))), *headers])
    return [data]


def _guarded_envelope(environ: dict) -> etree._Element:
    """The request's envelope, parsed once here and handed to Spyne as it is."""
    data = read_body(environ, LIMITS.max_bytes)
    root = check_xml(data, LIMITS)
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise InvalidRequest("This endpoint speaks SOAP 1.1; the envelope is SOAP 1.2.",
                             version_mismatch=True)
    if root.tag != f"{{{SOAP11_ENV}}}Envelope":
        raise InvalidRequest("The document is not a SOAP 1.1 envelope.")
    body = root.find(f"{{{SOAP11_ENV}}}Body")
    if body is None or len(body) != 1:
        raise InvalidRequest("The SOAP Body must hold exactly one element, the operation.")
    for element in root.iter():
        if REFERENCE_ATTRIBUTES & set(element.attrib):
            raise InvalidRequest("SOAP-encoding references (href, id) are not supported; "
                                 "send document/literal.")
    operation = etree.QName(body[0])
    if operation.namespace != TNS or operation.localname not in OPERATIONS:
        raise InvalidRequest(f"Unknown operation '{operation.localname}' in namespace "
                             f"'{operation.namespace or ''}'; /soap?wsdl lists the operations "
                             f"of {TNS}.")
    _check_soap_action(environ.get("HTTP_SOAPACTION"), operation.localname)
    if b"XMLSchema-instance" in data or b"encodingStyle" in data:
        _drop_annotations(body)
    return root


def _check_media_type(media: str) -> None:
    if media == "application/soap+xml":
        raise InvalidRequest("This endpoint speaks SOAP 1.1 (text/xml); "
                             "application/soap+xml is SOAP 1.2.", version_mismatch=True)
    if media != "text/xml":
        raise InvalidRequest(f"Content-Type must be text/xml for SOAP 1.1, not "
                             f"'{media or 'none'}'.")


def _check_soap_action(header: str | None, operation: str) -> None:
    # Spyne routes on the Body alone: a SOAPAction naming another operation
    # would let a gateway's per-action policy be bypassed, so refuse it.
    action = (header or "").strip().strip('"')
    if action and action != operation and not action.endswith(("/" + operation, "#" + operation)):
        raise InvalidRequest(f"SOAPAction '{action}' does not match the operation "
                             f"'{operation}' in the Body.")


def _drop_annotations(body: etree._Element) -> None:
    """Remove the annotations RPC-minded clients add to the Body; the WSDL's types apply.

    Perl's SOAP::Lite and others put xsi:type="xsd:int" on every value and a
    soap:encodingStyle on the operation; some stacks send an operation without
    arguments as an empty element with xsi:nil="true". The schema validator would
    refuse each of them, though none changes what the request means.
    """
    operation = body[0]
    if len(operation) == 0 and operation.get(XSI_NIL) in ("true", "1"):
        del operation.attrib[XSI_NIL]
    for element in body.iter():
        for name in (XSI_TYPE, ENCODING_STYLE):
            element.attrib.pop(name, None)


def _credentials(environ: dict) -> Credentials | None:
    """HTTP Basic credentials, else a WS-Security UsernameToken with a PasswordText password.

    The token is looked for in the first UNAUTHENTICATED_BYTES of the body only, up
    to the start of the Body (the Header comes first); what was read is put back
    for the guard.
    """
    basic = basic_credentials(environ)
    if basic is not None:
        return basic
    head, token = _read_security_header(environ)
    environ["wsgi.input"] = _Replay(head, environ["wsgi.input"])
    if token is None:
        return None
    username = token.findtext(f"{{{WSSE}}}Username") or ""
    password = token.find(f"{{{WSSE}}}Password")
    if password is None:
        raise Unauthorized("The UsernameToken has no Password.")
    if password.get("Type", PASSWORD_TEXT) != PASSWORD_TEXT:
        raise Unauthorized("Only PasswordText UsernameTokens are supported (over HTTPS); "
                           "PasswordDigest cannot be checked against hashed secrets.")
    return Credentials(username.strip(), (password.text or "").strip())


def _read_security_header(environ: dict) -> tuple[bytes, etree._Element | None]:
    """The bytes read and the UsernameToken of Envelope/Header/Security, if any."""
    parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False,
                                 no_network=True, load_dtd=False, huge_tree=False)
    limit = min(declared_length(environ) or UNAUTHENTICATED_BYTES, UNAUTHENTICATED_BYTES)
    head = b""
    while len(head) < limit:
        chunk = environ["wsgi.input"].read(min(8192, limit - len(head)))
        if not chunk:
            break
        head += chunk
        try:
            parser.feed(chunk)
            for event, element in parser.read_events():
                if event == "start" and element.tag == f"{{{SOAP11_ENV}}}Body":
                    return head, None
                if event == "end" and element.tag == USERNAME_TOKEN and \
                        _path(element) == SECURITY_PATH:
                    return head, element
        except etree.XMLSyntaxError:  # the guard says what is wrong, to a known caller
            break
    return head, None


def _path(element: etree._Element) -> list[str]:
    return [ancestor.tag for ancestor in element.iterancestors()]


class _Replay:
    """A WSGI input that gives back ``head`` before the rest of ``stream``."""

    def __init__(self, head: bytes, stream) -> None:
        self.head = io.BytesIO(head)
        self.stream = stream

    def read(self, size: int) -> bytes:  # read_body always says how much
        return self.head.read(size) or self.stream.read(size)
