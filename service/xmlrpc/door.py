"""The XML-RPC door: methods generated from the catalogue, safe parsing, one fault table.

Calling convention: a method takes either one struct holding its parameters by
name (the SOAP field names), or its parameters positionally in the documented
order (see system.methodHelp). Faults carry a documented number and a string
"<Code>: <message>" with the same stable code as the SOAP door.
"""
from __future__ import annotations

import dataclasses
import logging
import xmlrpc.client
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from xml.parsers.expat import ExpatError
from xmlrpc.server import SimpleXMLRPCDispatcher

from defusedxml import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser
from lxml import etree

from service.domain.errors import XMLRPC_CODES, DomainError, InvalidRequest, MissingCredentials
from service.http.request import (CHALLENGE, UNAUTHENTICATED_BYTES, UNAUTHORIZED,
                                  basic_credentials, declared_length, read_body, retry_after)
from service.http.xmlguard import XmlLimits, check_xml, check_xml_headers
from service.services import OPERATIONS, Operation, Principal, Runtime, invoke
from service.services.catalogue import DOOR_ERRORS
from service.services.keys import authenticate
from service.services.schema import (FieldSpec, MessageShapeError, fields_of, from_plain,
                                     limits_of, nested_messages)
from service.telemetry import FAULTS, fault_reference, observe_call
from service.xmlrpc.wire import read_call, write_result

log = logging.getLogger("feedloop.xmlrpc")

LIMITS = XmlLimits()
MAX_MULTICALL = 100
_XMLRPC_TYPES = {str: "string", int: "int", bool: "boolean", float: "double",
                 datetime: "dateTime.iso8601"}


class XmlRpcFault(Exception):
    def __init__(self, code: str, message: str, number: int | None = None) -> None:
        super().__init__(message)
        self.fault = xmlrpc.client.Fault(number if number is not None else XMLRPC_CODES[code],
                                         f"{code}: {message}")


class _DomainFault(xmlrpc.client.Fault):
    """The fault of a domain error, with the HTTP headers that error adds (Retry-After)."""

    def __init__(self, error: DomainError) -> None:
        number = XMLRPC_CODES["InvalidParams"] if isinstance(error, MessageShapeError) \
            else XMLRPC_CODES.get(error.code, XMLRPC_CODES["InternalError"])
        super().__init__(number, f"{error.code}: {error.message}")
        self.headers = retry_after(error)


def _headers_of(fault: xmlrpc.client.Fault) -> dict[str, str]:
    return fault.headers if isinstance(fault, _DomainFault) else {}


def _internal_fault(method: str) -> xmlrpc.client.Fault:
    reference = fault_reference()
    log.exception("unexpected error in %s (reference %s)", method, reference)
    return xmlrpc.client.Fault(XMLRPC_CODES["InternalError"],
                               f"InternalError: Internal error (reference {reference}).")


#: The field names of each result message class met so far (a 10,000-row result
#: encodes 60,000 values: looking its fields up once per class, not once per value).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_PLAIN = frozenset({str, int, bool, float})


def encode_result(value: Any) -> Any:
    """A result message as XML-RPC carries it: structs of its fields, None left out
    (XML-RPC has no nil), date-times in UTC."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(spec.name for spec in fields_of(kind))
    if names is not None:
        encoded = {}
        for name in names:
            item = getattr(value, name)
            if item is not None:
                encoded[name] = encode_result(item)
        return encoded
    if isinstance(value, list):
        return [encode_result(item) for item in value]
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def xmlrpc_type(spec: FieldSpec) -> str:
    """The XML-RPC type of a field, e.g. "int" or "array of struct Param"."""
    base = _XMLRPC_TYPES.get(spec.base) or f"struct {spec.base.__name__}"
    return f"array of {base}" if spec.is_list else base


def _signatures(op: Operation) -> list[list[str]]:
    """One struct by name; or positionally, every length from the required fields to all."""
    specs = fields_of(op.request)
    types = ["array" if spec.is_list else _XMLRPC_TYPES.get(spec.base, "struct") for spec in specs]
    required = sum(spec.required for spec in specs)
    return [["struct", "struct"]] + [["struct", *types[:n]]
                                     for n in range(required, len(types) + 1)]


def fault_numbers(op: Operation) -> list[tuple[int, str, str]]:
    """(faultCode, code, meaning) of every fault a call of ``op`` can get."""
    faults = [(XMLRPC_CODES["InvalidParams"], "ValidationError",
               (MessageShapeError.__doc__ or "").strip().splitlines()[0])]
    for error in dict.fromkeys(op.errors + DOOR_ERRORS):
        meaning = (error.__doc__ or "").strip().splitlines()[0]
        faults.append((XMLRPC_CODES[error.code], error.code, meaning))
    faults.append((XMLRPC_CODES["ParseError"], "ParseError", "The body is not an XML-RPC call."))
    return faults


def _help(op: Operation) -> str:
    def members(cls: type, with_limits: bool) -> list[str]:
        return ["  " + "  ".join(part for part in (
            spec.name, xmlrpc_type(spec), "required" if spec.required else "optional",
            limits_of(spec) if with_limits else "", spec.doc) if part)
            for spec in fields_of(cls)]

    lines = [op.doc, "", f"Scope: {op.scope}.",
             "Parameters: one struct of these members, or their values positionally in "
             "this order:", *members(op.request, True),
             f"Returns: struct {op.result.__name__}", *members(op.result, False)]
    requests = set(nested_messages(op.request))
    for nested in nested_messages(op.request, op.result):
        lines += [f"struct {nested.__name__}:", *members(nested, nested in requests)]
    lines.append('Faults (faultCode, then the faultString "Code: message"):')
    lines += [f"  {number} {code}: {meaning}" for number, code, meaning in fault_numbers(op)]
    return "\n".join(lines)


class FeedloopDispatcher(SimpleXMLRPCDispatcher):
    """The stock dispatcher's introspection, with our own dispatch and fault mapping."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(allow_none=False, encoding="utf-8", use_builtin_types=True)
        self.rt = rt
        self.operations = {op.method_name: op for op in OPERATIONS.values()}
        self.register_introspection_functions()
        self.register_multicall_functions()

    # -- introspection ----------------------------------------------------------
    def system_listMethods(self) -> list[str]:
        return sorted([*self.operations, "system.listMethods", "system.methodHelp",
                       "system.methodSignature", "system.multicall"])

    def system_methodHelp(self, method_name: str) -> str:
        op = self.operations.get(method_name)
        return _help(op) if op else ""

    def system_methodSignature(self, method_name: str) -> list[list[str]] | str:
        op = self.operations.get(method_name)
        return _signatures(op) if op else "signatures not supported"

    # -- calls --------------------------------------------------------------------
    def handle(self, root: etree._Element, data: bytes, principal: Callable[[], Principal]
               ) -> tuple[str, dict[str, str]]:
        """The marshalled response to one request body (a result or a fault), and the
        HTTP headers its fault adds; ``root`` is the body's tree from check_xml."""
        try:
            params, method = read_call(root, data) or _loads(data)
        except XmlRpcFault as refusal:
            FAULTS.labels("xmlrpc", refusal.fault.faultString.partition(":")[0]).inc()
            return xmlrpc.client.dumps(refusal.fault, methodresponse=True), {}
        try:
            return write_result(self.call(method, params, principal)), {}
        except xmlrpc.client.Fault as fault:
            return xmlrpc.client.dumps(fault, methodresponse=True), _headers_of(fault)

    def call(self, method: str | None, params: tuple, principal: Callable[[], Principal]) -> Any:
        """Run one call; raises xmlrpc.client.Fault for every failure."""
        try:
            if method == "system.multicall":
                return self._multicall(params, principal)
            if method in ("system.listMethods", "system.methodHelp", "system.methodSignature"):
                return self._introspect(method, params)
            op = self.operations.get(method or "")
            if op is None:
                raise xmlrpc.client.Fault(XMLRPC_CODES["MethodNotFound"],
                                          f"MethodNotFound: no method '{method}'; "
                                          "system.listMethods lists them.")
            with observe_call("xmlrpc", op.name):
                request = from_plain(op.request, _named(op, params))
                return encode_result(invoke(self.rt, principal(), op, request))
        except xmlrpc.client.Fault:
            raise
        except DomainError as error:
            raise _DomainFault(error) from None
        except Exception:
            raise _internal_fault(method or "?") from None

    def _introspect(self, method: str, params: tuple) -> Any:
        expected = 0 if method == "system.listMethods" else 1
        if len(params) != expected or not all(isinstance(p, str) for p in params):
            raise MessageShapeError(f"{method} takes {expected or 'no'} string parameter"
                                    f"{'' if expected else 's'}.")
        return self.funcs[method](*params)

    def _multicall(self, params: tuple, principal: Callable[[], Principal]) -> list:
        if len(params) != 1 or not isinstance(params[0], list):
            raise MessageShapeError("system.multicall takes one array of {methodName, params}.")
        calls = params[0]
        if len(calls) > MAX_MULTICALL:
            raise MessageShapeError(f"system.multicall carries at most {MAX_MULTICALL} calls; "
                                    f"got {len(calls)}.")
        results = []
        for call in calls:
            try:
                if not isinstance(call, dict) or not isinstance(call.get("params", []), list):
                    raise MessageShapeError("Each call is a struct {methodName, params}.")
                if call.get("methodName") == "system.multicall":
                    raise MessageShapeError("system.multicall cannot be nested.")
                results.append([self.call(call.get("methodName"), tuple(call.get("params", [])),
                                          principal)])
            except xmlrpc.client.Fault as fault:
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
            except DomainError as error:
                fault = _DomainFault(error)
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
        return results


def _named(op: Operation, params: tuple) -> dict:
    """The parameters of a call by name, from one struct or from positions."""
    specs = fields_of(op.request)
    if len(params) == 1 and isinstance(params[0], dict):
        return params[0]
    if len(params) > len(specs):
        raise MessageShapeError(f"{op.method_name} takes at most {len(specs)} parameters "
                                f"({', '.join(s.name for s in specs)}); got {len(params)}.")
    return {spec.name: value for spec, value in zip(specs, params)}


def _loads(data: bytes) -> tuple[tuple, str | None]:
    """Parse a call with defusedxml's expat parser (no DTDs, no entities, no network): the
    answer to every document read_call leaves to the stdlib."""
    unmarshaller = xmlrpc.client.Unmarshaller(use_datetime=False, use_builtin_types=True)
    parser = DefusedExpatParser(unmarshaller, forbid_dtd=True)
    try:
        parser.feed(data)
        parser.close()
        params = unmarshaller.close()
    # IndexError: a struct whose members do not pair a name with a value; ArithmeticError:
    # a bigdecimal that is not a number; Fault: a methodResponse's fault sent as a call.
    except (ExpatError, DefusedXmlException, xmlrpc.client.ResponseError, xmlrpc.client.Fault,
            ValueError, TypeError, IndexError, ArithmeticError) as error:
        raise XmlRpcFault("ParseError", f"The request is not a valid XML-RPC call ({error}).")
    method = unmarshaller.getmethodname()
    if method is None:
        raise XmlRpcFault("InvalidRequest", "The document is not a methodCall.")
    return params, method


def create_xmlrpc_app(rt: Runtime) -> Callable:
    """The WSGI application of /xmlrpc and /RPC2 (faults travel with HTTP 200, per spec)."""
    dispatcher = FeedloopDispatcher(rt)

    def xmlrpc_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
            data = b"POST an XML-RPC methodCall here.\n"
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"),
                                                      ("Allow", "POST"),
                                                      ("Content-Length", str(len(data)))])
            return [data]
        principal = _LazyPrincipal(rt, environ)
        try:
            media = check_xml_headers(environ)
            if media not in ("text/xml", "application/xml"):
                raise InvalidRequest(f"Content-Type must be text/xml, not '{media or 'none'}'.")
            length = declared_length(environ)
            if length is None or length > UNAUTHENTICATED_BYTES:
                principal()  # a large body is read and parsed for a known caller only
            body = read_body(environ, LIMITS.max_bytes)
            root = check_xml(body, LIMITS)
        except DomainError as error:
            fault = _DomainFault(error)
            response, headers = xmlrpc.client.dumps(fault, methodresponse=True), fault.headers
        else:
            response, headers = dispatcher.handle(root, body, principal)
        data = response.encode("utf-8")
        # Even an outage's fault travels with 200: xmlrpc.client, PHP's and Java's clients
        # turn any other status into a transport error and never read the fault's code.
        # Only a call without credentials is challenged (401, see CHALLENGE).
        status, challenge = (UNAUTHORIZED, CHALLENGE) if principal.challenged else ("200 OK", [])
        start_response(status, [("Content-Type", "text/xml; charset=utf-8"),
                                ("Content-Length", str(len(data))), *challenge,
                                *headers.items()])
        return [data]

    return xmlrpc_app


class _LazyPrincipal:
    """Authenticate once per HTTP request, on the first call that needs it.

    Introspection needs no credentials; when a call needed them and the request
    had none, the door answers 401 with the Basic challenge.
    """

    def __init__(self, rt: Runtime, environ: dict) -> None:
        self.rt = rt
        self.environ = environ
        self.outcome: Principal | DomainError | None = None

    def __call__(self) -> Principal:
        if self.outcome is None:
            try:
                self.outcome = authenticate(self.rt, basic_credentials(self.environ),
                                            self.environ.get("REMOTE_ADDR"))
            except DomainError as error:
                self.outcome = error
        if isinstance(self.outcome, DomainError):
            raise self.outcome
        return self.outcome

    @property
    def challenged(self) -> bool:
        return isinstance(self.outcome, MissingCredentials)
