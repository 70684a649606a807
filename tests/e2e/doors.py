"""The two doors as a test sees them: one `call(operation, **fields)` returning plain data."""
from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import weakref
import xmlrpc.client
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests
import suds
import suds.client
import suds.sax.text
import suds.sudsobject
import suds.transport.http
import suds.transport.https
import zeep
import zeep.helpers
from lxml import etree
from zeep.transports import Transport

from service.services import OPERATIONS
from service.services.schema import fields_of


class DoorFault(Exception):
    """A fault from either door, reduced to its stable code and its message.

    ``data`` is what the client parsed besides: a SOAP fault's detail element (its
    data fields, code and message checked against the faultcode and left out), an
    XML-RPC fault's number.
    """

    def __init__(self, code: str, message: str, data: dict | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data or {}


#: A field left out of a call although the WSDL requires it (the server must say so).
MISSING = object()


def typed_fault(faultcode: str, message: str, element: str, detail: dict) -> DoorFault:
    """The DoorFault of a SOAP fault whose detail the client parsed into a dict."""
    code = faultcode.split(":")[-1].removeprefix("Client.").removeprefix("Server.")
    assert element == code + "Fault", (element, code)
    data = dict(detail)
    assert (data.pop("code"), data.pop("message")) == (code, message), detail
    return DoorFault(code, message, {k: v for k, v in data.items() if v is not None})


def normalise(value):
    """Plain data with datetimes as aware UTC and zeep's empty lists made explicit."""
    if isinstance(value, dict):
        # zeep reads an empty element as None: empty strings and lists count as absent
        return {k: normalise(v) for k, v in value.items() if v not in (None, "", [])}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value


def closing(door, session: requests.Session):
    """``door``, whose HTTP session (and the sockets it pools) is closed when the door is
    collected: left to the garbage collector, an open socket raises a ResourceWarning in
    whichever test is running then."""
    weakref.finalize(door, session.close)
    return door


@dataclass
class SoapDoor:
    client: zeep.Client

    @classmethod
    def connect(cls, base_url: str, key: tuple[str, str]) -> "SoapDoor":
        session = requests.Session()
        session.auth = key
        transport = Transport(session=session, timeout=30, operation_timeout=120)
        return closing(cls(zeep.Client(f"{base_url}/soap?wsdl", transport=transport)), session)

    def call(self, operation: str, **fields):
        fields = {k: zeep.xsd.SkipValue if v is MISSING else v for k, v in fields.items()}
        try:
            result = getattr(self.client.service, operation)(**fields)
        except zeep.exceptions.Fault as fault:
            (detail,) = fault.detail
            # zeep's documented way to a fault's data: parse the detail with its declared element
            parsed = self.client.get_element(detail.tag).parse(detail, self.client.wsdl.types)
            raise typed_fault(fault.code, fault.message, etree.QName(detail).localname,
                              zeep.helpers.serialize_object(parsed, dict)) from None
        plain = zeep.helpers.serialize_object(result, dict)
        fields = [spec.name for spec in fields_of(OPERATIONS[operation].result)]
        if not isinstance(plain, dict) and len(fields) == 1:
            plain = {fields[0]: plain}  # zeep unwraps a result of one element
        return normalise(plain)


@dataclass
class XmlRpcDoor:
    proxy: xmlrpc.client.ServerProxy

    @classmethod
    def connect(cls, base_url: str, key: tuple[str, str]) -> "XmlRpcDoor":
        host = base_url.removeprefix("http://")
        return cls(xmlrpc.client.ServerProxy(f"http://{key[0]}:{key[1]}@{host}/xmlrpc",
                                             use_builtin_types=True))

    def call(self, operation: str, **fields):
        method = getattr(self.proxy, OPERATIONS[operation].method_name)
        try:
            result = method({k: v for k, v in fields.items() if v not in (None, MISSING)})
        except xmlrpc.client.Fault as fault:
            code, _, message = fault.faultString.partition(": ")
            raise DoorFault(code, message, {"faultCode": fault.faultCode}) from None
        return normalise(result)


class _UrllibTransport(xmlrpc.client.Transport):
    """xmlrpc.client over a urllib opener, so the opener's handlers (here: Basic
    credentials sent when challenged) do the HTTP."""

    def __init__(self, opener: urllib.request.OpenerDirector) -> None:
        super().__init__(use_builtin_types=True)
        self.opener = opener
        self.verbose = False

    def request(self, host, handler, request_body, verbose=False):
        request = urllib.request.Request(f"http://{host}{handler}", data=request_body,
                                         headers={"Content-Type": "text/xml"})
        try:
            with self.opener.open(request, timeout=60) as answer:
                return self.parse_response(answer)
        except urllib.error.HTTPError as refused:
            # A refused call's body is still the XML-RPC fault: read it as one.
            with refused:
                return self.parse_response(refused)


class ClosingBasicAuthHandler(urllib.request.HTTPBasicAuthHandler):
    """urllib's HTTPBasicAuthHandler, closing the challenge it answered: the stock one leaves
    that 401 response to the garbage collector (a ResourceWarning, an error in this suite).
    A retry that fails (a SOAP fault is an HTTP 500, raised as HTTPError) closes it too:
    the raised error's traceback kept it, and its socket, until the collector ran."""

    def http_error_401(self, req, fp, code, msg, headers):
        try:
            retried = super().http_error_401(req, fp, code, msg, headers)
        except BaseException:
            fp.close()
            raise
        if retried is not None:
            fp.close()
        return retried


def challenged_xmlrpc(base_url: str, key: tuple[str, str]) -> XmlRpcDoor:
    """XML-RPC through urllib's HTTPBasicAuthHandler: credentials only after a 401 challenge."""
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, base_url, *key)
    opener = urllib.request.build_opener(ClosingBasicAuthHandler(passwords))
    return XmlRpcDoor(xmlrpc.client.ServerProxy(f"{base_url}/xmlrpc",
                                                transport=_UrllibTransport(opener)))


@dataclass
class SudsDoor:
    """suds as its documentation configures Basic auth (HttpAuthenticated: sent when challenged)."""

    client: suds.client.Client

    @classmethod
    def connect(cls, base_url: str, key: tuple[str, str]) -> "SudsDoor":
        return cls(suds.client.Client(f"{base_url}/soap?wsdl", cache=None, transport=
                                      _SudsAuthenticated(username=key[0], password=key[1],
                                                         timeout=120)))

    def call(self, operation: str, **fields):
        try:
            result = getattr(self.client.service, operation)(
                **{k: v for k, v in fields.items() if v is not MISSING})
        except suds.WebFault as web_fault:
            fault = web_fault.fault
            (element, detail), = suds.sudsobject.items(fault.detail)
            raise typed_fault(fault.faultcode, fault.faultstring, element,
                              _suds_plain(detail)) from None
        return normalise(_suds_plain(result))


class _SudsAuthenticated(suds.transport.https.HttpAuthenticated):
    """suds' default transport for a username and password, with the closing handler."""

    def u2handlers(self):
        return [*suds.transport.http.HttpTransport.u2handlers(self),
                ClosingBasicAuthHandler(self.pm)]


def _suds_plain(value):
    if isinstance(value, suds.sudsobject.Object):
        return {k: _suds_plain(v) for k, v in suds.sudsobject.items(value)}
    if isinstance(value, list):
        return [_suds_plain(v) for v in value]
    if isinstance(value, suds.sax.text.Text):
        return str(value)
    return value


PHP_CLIENT = Path(__file__).with_name("clients") / "soap_call.php"


@dataclass
class PhpDoor:
    """PHP's SoapClient, one `php` process per call (tests/e2e/clients/soap_call.php)."""

    wsdl: str
    key: tuple[str, str]

    @classmethod
    def connect(cls, base_url: str, key: tuple[str, str]) -> "PhpDoor":
        return cls(f"{base_url}/soap?wsdl", key)

    def call(self, operation: str, **fields):
        request = {"wsdl": self.wsdl, "login": self.key[0], "password": self.key[1],
                   "operation": operation,
                   # SoapClient refuses to leave out a required field; it sends a null as nil
                   "fields": {k: None if v is MISSING else v for k, v in fields.items()
                              if v is not None}}
        done = subprocess.run(["php", str(PHP_CLIENT)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=120, check=True)
        answer = json.loads(done.stdout)
        if "fault" in answer:
            fault = answer["fault"]
            (element, detail), = fault["detail"].items()
            raise typed_fault(fault["code"], fault["message"], element, detail)
        return normalise(answer["result"][operation + "Result"])
