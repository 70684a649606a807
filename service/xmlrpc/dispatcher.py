"""Dispatching XML-RPC calls to registered methods, with one fault table for every failure.

Faults carry the number of ``XMLRPC_CODES`` and the text ``"<Code>: <message>"``,
so a script can branch on either. Anything unexpected is logged with a
reference id that the caller receives instead of the exception's text.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Callable
from xmlrpc.client import Fault
from xmlrpc.server import SimpleXMLRPCDispatcher

from service.domain.credentials import Credentials
from service.domain.errors import XMLRPC_CODES, DomainError
from service.xmlrpc.marshal import UnreadableCall, dump_fault, dump_result, parse_call, to_wire
from service.xmlrpc.registry import InvalidParams, Method, Param, Registry

log = logging.getLogger("feedloop.xmlrpc")

#: Calls one system.multicall may carry; each is authenticated and checked like a lone call.
MAX_MULTICALL = 100

Authenticate = Callable[[Credentials | None], Any]


def fault(code: str, message: str) -> Fault:
    """The fault of a code of ``XMLRPC_CODES``."""
    return Fault(XMLRPC_CODES[code], f"{code}: {message}")


def domain_fault(error: DomainError) -> Fault:
    """The fault of a domain error: the number of its code, or of its nearest ancestor's."""
    number = next((XMLRPC_CODES[cls.code] for cls in type(error).__mro__
                   if getattr(cls, "code", None) in XMLRPC_CODES), XMLRPC_CODES["InternalError"])
    return Fault(number, f"{error.code}: {error.message}")


def internal_fault(where: str) -> Fault:
    """Log the exception being handled; the caller gets only a reference to the log line."""
    reference = uuid.uuid4().hex[:12]
    log.exception("XML-RPC %s failed (reference %s)", where, reference)
    return fault("InternalError", f"Internal error (reference {reference}).")


class Caller:
    """Who sent one HTTP request, authenticated once, on its first call that needs it.

    Memoising the outcome keeps a multicall of 100 calls from costing 100
    secret verifications (or 100 password guesses).
    """

    def __init__(self, authenticate: Authenticate, credentials: Credentials | None) -> None:
        self._authenticate = authenticate
        self._credentials = credentials
        self._known = False
        self._principal: Any = None
        self._refusal: DomainError | None = None

    def principal(self) -> Any:
        """The authenticated principal; raises the authenticator's DomainError otherwise."""
        if not self._known:
            try:
                self._principal = self._authenticate(self._credentials)
            except DomainError as refusal:
                self._refusal = refusal
            self._known = True
        if self._refusal is not None:
            raise self._refusal
        return self._principal


class Dispatcher(SimpleXMLRPCDispatcher):
    """The stock dispatcher's interface, with safe parsing and our own fault mapping.

    The stock ``_marshaled_dispatch`` parses with the unsafe stdlib parser and,
    like the stock ``system.multicall``, sends ``"<class 'X'>:message"`` to the
    client; both are replaced, and methods come only from the ``Registry``.
    """

    def __init__(self, registry: Registry, authenticate: Authenticate,
                 max_calls: int = MAX_MULTICALL) -> None:
        super().__init__(allow_none=False, encoding="utf-8", use_builtin_types=True)
        self.registry = registry
        self.authenticate = authenticate
        self.max_calls = max_calls
        # System methods receive the Caller where business methods receive the principal.
        name = Param("method_name", str, doc="a name listed by system.listMethods")
        self._system = {method.name: method for method in (
            Method("system.listMethods", lambda caller: self.system_listMethods(), (),
                   "The names of every method.", "array"),
            Method("system.methodHelp", lambda caller, method_name:
                   self.system_methodHelp(method_name), (name,),
                   "What a method does and its parameters.", "string"),
            Method("system.methodSignature", lambda caller, method_name:
                   self.system_methodSignature(method_name), (name,),
                   "A method's signatures: [return type, parameter types...] each.", "array"),
            Method("system.multicall", lambda caller, calls: self.system_multicall(calls, caller),
                   (Param("calls", list, items=dict,
                          doc=f"up to {max_calls} structs {{methodName, params}}"),),
                   "Several calls in one request; a failing call does not stop the others; "
                   "the result holds [result] or {faultCode, faultString} per call.", "array"),
        )}

    def register_function(self, function=None, name=None):
        raise TypeError("Register XML-RPC methods with Registry.method(), not register_function.")

    def register_instance(self, instance, allow_dotted_names=False):
        raise TypeError("Register XML-RPC methods with Registry.method(), not register_instance.")

    def handle(self, body: bytes, credentials: Credentials | None) -> bytes:
        """The methodResponse to one request body: a result or a fault, never an exception."""
        try:
            name, params = parse_call(body)
        except UnreadableCall as unreadable:
            return dump_fault(XMLRPC_CODES[unreadable.code], f"{unreadable.code}: {unreadable}")
        try:
            return dump_result(self.call(name, params, Caller(self.authenticate, credentials)))
        except Fault as failure:
            return dump_fault(failure.faultCode, failure.faultString)

    def call(self, name: str, params: tuple, caller: Caller) -> Any:
        """The wire-shaped result of one call; raises ``Fault`` for every failure."""
        try:
            method = self._method(name)
            first = caller if name in self._system else caller.principal()
            return to_wire(method.func(first, **method.bind(params)))
        except Fault:
            raise
        except InvalidParams as mismatch:
            raise fault("InvalidParams", str(mismatch)) from None
        except DomainError as error:
            raise domain_fault(error) from None
        except Exception:
            raise internal_fault(name) from None

    def _method(self, name: str) -> Method:
        method = self._system.get(name) or self.registry.get(name)
        if method is None:
            raise fault("MethodNotFound", f"There is no method '{name}'; "
                                          "system.listMethods lists them.")
        return method

    # -- the stock entry points, made safe ------------------------------------------------
    def _dispatch(self, method: str, params: tuple) -> Any:
        """One call without credentials (the stock entry point); faults as ``call``."""
        return self.call(method, params, Caller(self.authenticate, None))

    def _marshaled_dispatch(self, data: bytes, dispatch_method=None, path=None) -> bytes:
        return self.handle(data, None)

    # -- system methods (no authentication) ------------------------------------------------
    def system_listMethods(self) -> list[str]:
        """The names of every method, system methods included."""
        return sorted([*self._system, *self.registry.names()])

    def system_methodHelp(self, method_name: str) -> str:
        """What a method does and its parameters."""
        return self._method(method_name).help()

    def system_methodSignature(self, method_name: str) -> list[list[str]]:
        """A method's signatures, each [return type, parameter types...]."""
        return self._method(method_name).signatures()

    def system_multicall(self, call_list: list[dict], caller: Caller | None = None) -> list:
        """The results of several calls: [result] or {faultCode, faultString} for each."""
        caller = caller or Caller(self.authenticate, None)
        if len(call_list) > self.max_calls:
            raise fault("RequestTooLarge", f"system.multicall takes at most {self.max_calls} "
                                           f"calls; this one has {len(call_list)}.")
        results: list = []
        for index, entry in enumerate(call_list):
            try:
                results.append([self.call(*self._inner_call(index, entry), caller)])
            except Fault as failure:
                results.append({"faultCode": failure.faultCode,
                                "faultString": failure.faultString})
        return results

    @staticmethod
    def _inner_call(index: int, entry: dict) -> tuple[str, tuple]:
        name, params = entry.get("methodName"), entry.get("params")
        if not isinstance(name, str) or not isinstance(params, list):
            raise fault("InvalidRequest", f"Call {index} of system.multicall needs a string "
                                          "'methodName' and an array 'params'.")
        if name == "system.multicall":
            raise fault("InvalidRequest", "system.multicall cannot be nested.")
        return name, tuple(params)
