"""The SOAP 1.1 door (Spyne, document/literal wrapped, namespace urn:feedloop:v1)."""
# First: it must run before anything imports spyne.
from service.soap import spyne_compat  # noqa: F401  isort: skip
from service.soap.door import create_soap_app, render_wsdl

__all__ = ["create_soap_app", "render_wsdl"]
