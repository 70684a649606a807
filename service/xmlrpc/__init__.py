"""The XML-RPC door at /xmlrpc and /RPC2: the stdlib dispatcher; plain calls read from
the XML guard's tree (wire.py), any other document parsed by the stdlib through defusedxml."""
from service.xmlrpc.door import create_xmlrpc_app

__all__ = ["create_xmlrpc_app"]
