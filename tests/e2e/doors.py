"""The two doors as a test sees them: one `call(operation, **fields)` returning plain data."""
from __future__ import annotations

import xmlrpc.client
from dataclasses import dataclass
from datetime import datetime, timezone

import requests
import zeep
import zeep.helpers
from zeep.transports import Transport

from service.services import OPERATIONS
from service.services.schema import fields_of


class DoorFault(Exception):
    """A fault from either door, reduced to its stable code and its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


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


@dataclass
class SoapDoor:
    client: zeep.Client

    @classmethod
    def connect(cls, base_url: str, key: tuple[str, str]) -> "SoapDoor":
        session = requests.Session()
        session.auth = key
        transport = Transport(session=session, timeout=30, operation_timeout=120)
        return cls(zeep.Client(f"{base_url}/soap?wsdl", transport=transport))

    def call(self, operation: str, **fields):
        try:
            result = getattr(self.client.service, operation)(**fields)
        except zeep.exceptions.Fault as fault:
            raise DoorFault(fault.code.split(":")[-1].removeprefix("Client.")
                            .removeprefix("Server."), fault.message) from None
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
            result = method({k: v for k, v in fields.items() if v is not None})
        except xmlrpc.client.Fault as fault:
            code, _, message = fault.faultString.partition(": ")
            raise DoorFault(code, message) from None
        return normalise(result)
