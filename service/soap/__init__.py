"""The SOAP 1.1 door (Spyne, document/literal wrapped, namespace urn:feedloop:v1)."""
from service.soap.door import create_soap_app, render_wsdl

__all__ = ["create_soap_app", "render_wsdl"]
