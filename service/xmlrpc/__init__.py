"""The XML-RPC door (stdlib dispatcher, defusedxml parsing) at /xmlrpc and /RPC2."""
from service.xmlrpc.door import create_xmlrpc_app

__all__ = ["create_xmlrpc_app"]
