"""One table from domain errors to typed SOAP faults, and the fault envelope we write ourselves.

Every fault carries a ``<detail>`` holding the element the WSDL declares for its
code (``tns:<Code>Fault``: code, message and the data a caller can act on), so
generated clients raise the declared exception with its data (wsimport's
``getFaultInfo()``, .NET's ``FaultException<T>``, zeep's ``Fault.detail``,
PHP's ``SoapFault->detail``).
"""
from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from spyne import DateTime, Integer, Unicode
from spyne.model.fault import Fault

from service.domain.errors import DomainError, InternalError, all_error_classes
from service.telemetry import fault_reference

log = logging.getLogger("feedloop.soap")

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
TNS = "urn:feedloop:v1"

_FAULT_CLASSES: dict[str, type[Fault]] = {}
_ERRORS_BY_CODE = {cls.code: cls for cls in all_error_classes()}

#: What a fault's detail carries besides its code and message, per code: the field
#: path of a validation error, the end of a quarantine, the seconds to wait before
#: retrying, the reference of a server error in our logs. A DomainError carries
#: these as ``field`` or in its details (``until=``, ``retry_after=``).
_FIELD = Unicode.customize(doc="The field at fault, as a path: questions[2].key.")
_RETRY_AFTER = Integer.customize(doc="Seconds to wait before trying again.")
_DATA = {
    "ValidationError": {"field": _FIELD},
    "InvalidEmail": {"field": _FIELD},
    "Quarantined": {"until": DateTime.customize(doc="When the contact may be invited again.")},
    "TooManyRequests": {"retry_after": _RETRY_AFTER},
    "Unavailable": {"retry_after": _RETRY_AFTER},
    "InternalError": {"reference": Unicode.customize(
        doc="Quote it to support: it finds the request in our logs.")},
}

#: What Spyne itself reports (schema validation, routing, size) mapped to our codes.
_SPYNE_CODES = {
    "Client.SchemaValidationError": "ValidationError",
    "Client.ValidationError": "ValidationError",
    "Client.InvalidInput": "ValidationError",
    "Client.ArgumentError": "ValidationError",
    "Client.ResourceNotFound": "InvalidRequest",
    "Client.RequestTooLong": "RequestTooLarge",
}
#: libxml2 names the element it judged, and the one it expected instead.
_JUDGED = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")
_EXPECTED = re.compile(r"Expected is (?:one of )?\( (?:\{[^}]*\})?([^ ,)]+)")


def fault_class(error_class: type[DomainError]) -> type[Fault]:
    """The Fault declared in the WSDL for a domain error: element ``tns:<Code>Fault``."""
    code = error_class.code
    cls = _FAULT_CLASSES.get(code)
    if cls is None:
        fields = [("code", Unicode.customize(min_occurs=1, nillable=False,
                                             doc="The stable code, as in the faultcode.")),
                  ("message", Unicode.customize(min_occurs=1, nillable=False,
                                                doc="What went wrong, for a person."))]
        fields += [(name, model.customize(min_occurs=0, nillable=False))
                   for name, model in _DATA.get(code, {}).items()]
        cls = type(code + "Fault", (Fault,), {
            "__namespace__": TNS, "__type_name__": code + "Fault", "_type_info": fields,
            "__doc__": f"faultcode {error_class.side}.{code}"})
        _FAULT_CLASSES[code] = cls
    return cls


def _typed(error_class: type[DomainError], message: str, faultcode: str | None = None,
           **data: Any) -> Fault:
    detail = {"code": error_class.code, "message": message}
    detail.update((name, data[name]) for name in _DATA.get(error_class.code, {})
                  if data.get(name) is not None)
    return fault_class(error_class)(
        faultcode=faultcode or f"{error_class.side}.{error_class.code}",
        faultstring=message, detail=detail)


def fault_of(error: DomainError) -> Fault:
    """The SOAP fault of a domain error: faultcode Client.<Code> or Server.<Code>, typed detail.

    An envelope of another SOAP version gets SOAP's own VersionMismatch code.
    """
    faultcode = "VersionMismatch" if error.details.get("version_mismatch") else None
    data = dict(error.details)
    if getattr(error, "field", None) is not None:
        data["field"] = error.field
    return _typed(type(error), error.message, faultcode, **data)


def internal_fault(where: str) -> Fault:
    """Log the exception being handled; the client learns only a reference to it."""
    reference = fault_reference()
    log.exception("unexpected error in %s (reference %s)", where, reference)
    return _typed(InternalError, f"Internal error (reference {reference}).",
                  reference=reference)


def _readable(text: str | bytes) -> str:
    """libxml2's schema messages without their location prefix; element names keep
    their namespace ({urn:feedloop:v1}survey_id), which tells a wrong namespace apart."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return re.sub(r"^.*?SCHEMAV_[A-Z0-9_]+: ", "", text.strip())


def _field_of(message: str) -> str | None:
    """The field a schema message is about: the one expected, else the one judged."""
    found = _EXPECTED.search(message) or _JUDGED.search(message)
    return found.group(1) if found else None


def normalised(fault: Fault) -> Fault:
    """A fault raised by Spyne itself, re-coded into our stable, typed codes."""
    if type(fault) in _FAULT_CLASSES.values():
        return fault
    code = fault.faultcode.split(":")[-1]
    if code in _SPYNE_CODES:
        message = _readable(fault.faultstring)
        return _typed(_ERRORS_BY_CODE[_SPYNE_CODES[code]], message, field=_field_of(message))
    if code.startswith("Client"):
        return _typed(_ERRORS_BY_CODE["InvalidRequest"], _readable(fault.faultstring))
    log.error("Spyne reported a server fault: %s %s", code, fault.faultstring)
    reference = fault_reference()
    return _typed(InternalError, f"Internal error (reference {reference}).",
                  reference=reference)


def fault_envelope(fault: Fault) -> bytes:
    """The SOAP 1.1 envelope of a typed fault, its detail in the declared element."""
    name = type(fault).get_type_name()
    data = "".join(f"<tns:{key}>{escape(_text(value))}</tns:{key}>"
                   for key, value in fault.detail.items())
    return (f"<?xml version='1.0' encoding='UTF-8'?>\n"
            f'<soap11env:Envelope xmlns:soap11env="{SOAP11_ENV}" xmlns:tns="{TNS}">'
            f"<soap11env:Body><soap11env:Fault>"
            f"<faultcode>soap11env:{escape(fault.faultcode)}</faultcode>"
            f"<faultstring>{escape(fault.faultstring)}</faultstring>"
            f"<detail><tns:{name}>{data}</tns:{name}></detail>"
            f"</soap11env:Fault></soap11env:Body></soap11env:Envelope>").encode("utf-8")


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
