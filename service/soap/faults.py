"""One table from domain errors to SOAP faults, and the fault envelope we write ourselves."""
from __future__ import annotations

import logging
import re
from xml.sax.saxutils import escape

from spyne.model.fault import Fault

from service.domain.errors import DomainError, all_error_classes
from service.telemetry import fault_reference

log = logging.getLogger("feedloop.soap")

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
TNS = "urn:feedloop:v1"

_FAULT_CLASSES: dict[str, type[Fault]] = {}
_OUR_CODES = {cls.code for cls in all_error_classes()}

#: What Spyne itself reports (schema validation, routing, size) mapped to our codes.
_SPYNE_CODES = {
    "Client.SchemaValidationError": "Client.ValidationError",
    "Client.ValidationError": "Client.ValidationError",
    "Client.InvalidInput": "Client.ValidationError",
    "Client.ArgumentError": "Client.ValidationError",
    "Client.ResourceNotFound": "Client.InvalidRequest",
    "Client.RequestTooLong": "Client.RequestTooLarge",
}


def fault_class(error_class: type[DomainError]) -> type[Fault]:
    """The Fault subclass declared in the WSDL for a domain error (one per code)."""
    cls = _FAULT_CLASSES.get(error_class.code)
    if cls is None:
        cls = type(error_class.code + "Fault", (Fault,), {
            "__namespace__": TNS, "__type_name__": error_class.code + "Fault",
            "__doc__": f"faultcode {error_class.side}.{error_class.code}"})
        _FAULT_CLASSES[error_class.code] = cls
    return cls


def fault_of(error: DomainError) -> Fault:
    """The SOAP fault of a domain error: faultcode Client.<Code> or Server.<Code>."""
    return fault_class(type(error))(faultcode=f"{error.side}.{error.code}",
                                    faultstring=error.message)


def internal_fault(where: str) -> Fault:
    """Log the exception being handled; the client learns only a reference to it."""
    reference = fault_reference()
    log.exception("unexpected error in %s (reference %s)", where, reference)
    return Fault(faultcode="Server.InternalError",
                 faultstring=f"Internal error (reference {reference}).")


def _readable(text: str | bytes) -> str:
    """libxml2's schema messages without their location prefix and namespace noise."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = re.sub(r"^.*?SCHEMAV_[A-Z0-9_]+: ", "", text.strip())
    return text.replace("{" + TNS + "}", "")


def normalised(fault: Fault) -> Fault:
    """A fault raised by Spyne itself, re-coded into our stable codes."""
    code = fault.faultcode.split(":")[-1]
    if code in _SPYNE_CODES:
        return Fault(faultcode=_SPYNE_CODES[code], faultstring=_readable(fault.faultstring))
    side, _, name = code.partition(".")
    if side in ("Client", "Server") and name in _OUR_CODES:
        return fault
    if side in ("VersionMismatch", "MustUnderstand"):
        return fault
    if side == "Client":
        return Fault(faultcode="Client.InvalidRequest", faultstring=_readable(fault.faultstring))
    log.error("Spyne reported a server fault: %s %s", code, fault.faultstring)
    return Fault(faultcode="Server.InternalError", faultstring="Internal error.")


def fault_envelope(code: str, message: str) -> bytes:
    """A SOAP 1.1 fault envelope, for refusals made before Spyne sees the request."""
    return (f"<?xml version='1.0' encoding='UTF-8'?>\n"
            f'<soap11env:Envelope xmlns:soap11env="{SOAP11_ENV}"><soap11env:Body>'
            f"<soap11env:Fault><faultcode>soap11env:{escape(code)}</faultcode>"
            f"<faultstring>{escape(message)}</faultstring></soap11env:Fault>"
            f"</soap11env:Body></soap11env:Envelope>").encode("utf-8")
