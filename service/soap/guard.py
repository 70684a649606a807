"""Judging a SOAP 1.1 request before Spyne parses a byte of it (traps.md).

Spyne decodes the charset outside its error handling, follows SOAP-encoding
``href`` references without a visited set, ignores ``SOAPAction`` and turns a
DTD into an HTML 500; its schema validator refuses the ``xsi:type``
annotations that SOAP::Lite puts on every value. So the door reads the body
itself, checks it with ``check_xml``, and hands Spyne only an envelope that is
safe, routable and stripped of those annotations.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from lxml import etree

from service.domain.credentials import Credentials
from service.domain.errors import InvalidRequest, Unauthorized
from service.http.request import basic_credentials, read_body
from service.http.xmlguard import XmlLimits, check_xml, check_xml_headers
from service.soap.faults import SOAP11_ENV, SOAP12_ENV

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-username-token-profile-1.0#PasswordText")
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_USERNAME_TOKEN = f"{{{SOAP11_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken"
# SOAP-encoding multi-references: unqualified href/id, and xml:id, which is
# what lxml's XMLID (used by Spyne) collects the targets from.
_HAS_REFERENCE = etree.XPath("boolean(//@href | //@id | //@x:id)",
                             namespaces={"x": "http://www.w3.org/XML/1998/namespace"})
_TYPED = etree.XPath("descendant::*[@xsi:type]", namespaces={"xsi": _XSI})


class VersionMismatch(Exception):
    """A SOAP 1.2 request: answered with the SOAP 1.1 ``VersionMismatch`` fault.

    Not a DomainError: it is a fact about the SOAP protocol, not a stable
    error code of the API.
    """


@dataclass(frozen=True)
class SoapCall:
    """A request that passed every check: what to hand Spyne, and who sent it."""

    operation: str                      # local name of the Body's only child
    document: bytes                     # the envelope, xsi:type annotations removed
    credentials: Credentials | None     # HTTP Basic or WS-Security UsernameToken


def read_call(environ: dict, operations: Collection[str], limits: XmlLimits) -> SoapCall:
    """The checked call of a POST; InvalidRequest, RequestTooLarge, Unauthorized or VersionMismatch otherwise.

    ``operations`` holds the routable operations as ``{namespace}Name``.
    """
    _check_media_type(check_xml_headers(environ))
    data = read_body(environ, limits.max_bytes)
    root = check_xml(data, limits)
    body = _body_of(root)
    if _HAS_REFERENCE(root):
        raise InvalidRequest("SOAP-encoding references (href/id attributes) are not "
                             "supported; send the values inline (document/literal).")
    # Document/literal wrapped: exactly one element, the operation. Spyne would
    # silently ignore any sibling, which a gateway might have inspected instead.
    if body is None or len(body) != 1:
        raise InvalidRequest("The SOAP Body must hold exactly one element, the operation.")
    name = etree.QName(body[0])
    if name.text not in operations:
        raise InvalidRequest(f"Unknown operation '{name.localname}' in namespace "
                             f"'{name.namespace or ''}'; GET ?wsdl lists the operations.")
    _check_soap_action(environ.get("HTTP_SOAPACTION"), name.localname)
    typed = _TYPED(body)
    for element in typed:
        del element.attrib[f"{{{_XSI}}}type"]
    if typed:
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return SoapCall(name.localname, data, _credentials(environ, root))


def _check_media_type(media: str) -> None:
    if media == "application/soap+xml":
        raise VersionMismatch("This endpoint speaks SOAP 1.1 (Content-Type text/xml); "
                              "application/soap+xml is SOAP 1.2.")
    if media != "text/xml":
        raise InvalidRequest(f"Content-Type must be text/xml for SOAP 1.1, not "
                             f"'{media or 'none'}'.")


def _body_of(root: etree._Element) -> etree._Element | None:
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise VersionMismatch("This endpoint speaks SOAP 1.1; the envelope is SOAP 1.2 "
                              f"({SOAP12_ENV}).")
    if root.tag != f"{{{SOAP11_ENV}}}Envelope":
        raise InvalidRequest(f"The document is not a SOAP 1.1 envelope: expected "
                             f"{{{SOAP11_ENV}}}Envelope, got {root.tag}.")
    return root.find(f"{{{SOAP11_ENV}}}Body")


def _check_soap_action(header: str | None, operation: str) -> None:
    # Spyne routes on the Body alone and publishes soapAction="<Operation>":
    # a SOAPAction naming another operation would let a gateway's per-action
    # policy be bypassed. Namespace-qualified forms (urn:feedloop:v1/Op, …#Op)
    # name the same operation and are accepted.
    action = (header or "").strip().strip('"')
    if action and action != operation and not action.endswith(("/" + operation,
                                                                "#" + operation)):
        raise InvalidRequest(f"SOAPAction '{action}' does not match the operation "
                             f"'{operation}' in the Body.")


def _credentials(environ: dict, root: etree._Element) -> Credentials | None:
    """A WS-Security UsernameToken if the envelope has one, else HTTP Basic credentials."""
    token = root.find(_USERNAME_TOKEN)
    if token is None:
        return basic_credentials(environ)
    password = token.find(f"{{{WSSE}}}Password")
    if password is None:
        raise Unauthorized("The UsernameToken has no Password: send the API key id as "
                           "Username and its secret as a PasswordText Password.")
    if password.get("Type", PASSWORD_TEXT) != PASSWORD_TEXT:
        raise Unauthorized("Only PasswordText UsernameTokens are supported (over HTTPS): "
                           "a PasswordDigest cannot be checked against hashed secrets.")
    return Credentials((token.findtext(f"{{{WSSE}}}Username") or "").strip(),
                       (password.text or "").strip())
