"""XML-RPC methods as declared by the door: names, typed parameters, one line of help.

Calling convention, the same for every method:

- **By name**: the call carries exactly one struct; its keys are parameter
  names (the SOAP field names). ``m({"campaign_id": 7, "email": "a@b.c"})``
- **Positionally**: any other call; values fill the declared parameters in
  order. ``m(7, "a@b.c")``

A lone struct therefore always means "by name". So that this can never be
mistaken for a positional call, a method's first parameter may not be a
struct (enforced at registration). An explicit ``<nil/>`` counts as absent,
which lets a positional caller skip an optional parameter.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Python types a parameter may declare, with their XML-RPC names.
WIRE_TYPES: dict[type, str] = {
    str: "string", int: "int", bool: "boolean", float: "double", list: "array",
    dict: "struct", datetime: "dateTime.iso8601", bytes: "base64",
}
_RETURN_TYPES = frozenset(WIRE_TYPES.values())


class InvalidParams(Exception):
    """The arguments of a call do not match the declared parameters."""


@dataclass(frozen=True)
class Param:
    """One declared parameter; ``items`` checks the elements of an array."""

    name: str
    type: type
    required: bool = True
    doc: str = ""
    items: type | None = None

    def describe(self) -> str:
        """The parameter as one line of system.methodHelp."""
        kind = WIRE_TYPES[self.type]
        if self.items is not None:
            kind += f" of {WIRE_TYPES[self.items]}"
        optional = "" if self.required else ", optional"
        return f"  {self.name} ({kind}{optional})" + (f": {self.doc}" if self.doc else "")


@dataclass(frozen=True)
class Method:
    """A registered method: ``func(principal, **arguments)`` returns plain data."""

    name: str
    func: Callable[..., Any]
    params: tuple[Param, ...]
    doc: str
    returns: str = "struct"

    def signatures(self) -> list[list[str]]:
        """Every accepted signature: each positional arity, then the by-name struct."""
        types = [WIRE_TYPES[p.type] for p in self.params]
        required = sum(p.required for p in self.params)
        positional = [[self.returns, *types[:n]] for n in range(required, len(types) + 1)]
        return positional + ([[self.returns, "struct"]] if self.params else [])

    def help(self) -> str:
        """The text of system.methodHelp."""
        if not self.params:
            return self.doc
        return "\n".join([self.doc, "Parameters, positionally in this order or as one "
                          "struct by name:", *(p.describe() for p in self.params)])

    def bind(self, args: tuple) -> dict[str, Any]:
        """The arguments of a call by parameter name, checked against the declaration."""
        if len(args) == 1 and isinstance(args[0], dict):
            given = args[0]
            unknown = [key for key in given if key not in {p.name for p in self.params}]
            if unknown:
                raise InvalidParams(f"{self.name} has no parameter '{unknown[0]}'; "
                                    f"it takes {self._names()}.")
        else:
            if len(args) > len(self.params):
                raise InvalidParams(f"{self.name} takes at most {len(self.params)} "
                                    f"parameters ({self._names()}); got {len(args)}.")
            given = {p.name: value for p, value in zip(self.params, args)}
        bound = {}
        for param in self.params:
            value = given.get(param.name)
            if value is None:
                if param.required:
                    raise InvalidParams(f"{self.name} needs parameter '{param.name}' "
                                        f"({WIRE_TYPES[param.type]}).")
                continue
            bound[param.name] = _coerce(value, param.type, f"{self.name} parameter '{param.name}'")
            if param.items is not None:
                bound[param.name] = [
                    _coerce(item, param.items, f"{self.name} parameter '{param.name}[{i}]'")
                    for i, item in enumerate(bound[param.name])]
        return bound

    def _names(self) -> str:
        return ", ".join(p.name for p in self.params) or "no parameters"


def _coerce(value: Any, expected: type, where: str) -> Any:
    """The value as the declared type; InvalidParams naming ``where`` when it is not one."""
    # bool is an int to Python but a distinct type on the wire.
    if isinstance(value, expected) and not (expected is not bool and isinstance(value, bool)):
        if expected is datetime:
            # dateTime.iso8601 carries no zone: the door's convention is UTC.
            return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # scripts in PHP and Perl send 3 where 3.0 was meant
    raise InvalidParams(f"{where} must be {_article(WIRE_TYPES[expected])}, "
                        f"not {_article(_wire_name(value))}.")


def _wire_name(value: Any) -> str:
    for kind, name in WIRE_TYPES.items():
        if type(value) is kind:
            return name
    return "nil" if value is None else type(value).__name__


def _article(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


class Registry:
    """The methods one XML-RPC door offers, registered with ``@registry.method(...)``."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def method(self, name: str, params: list[Param] | tuple[Param, ...] = (), *,
               doc: str, returns: str = "struct") -> Callable[[F], F]:
        """Register ``func(principal, **arguments)`` as the XML-RPC method ``name``."""

        def register(func: F) -> F:
            self._add(Method(name, func, tuple(params), doc, returns))
            return func

        return register

    def get(self, name: str) -> Method | None:
        """The method called ``name``, or None."""
        return self._methods.get(name)

    def names(self) -> list[str]:
        """The registered method names, sorted."""
        return sorted(self._methods)

    def _add(self, method: Method) -> None:
        # Declaration mistakes fail at import time, not on a customer's call.
        problems = _declaration_problems(method)
        if method.name in self._methods:
            problems.append("is registered twice")
        if problems:
            raise ValueError(f"XML-RPC method {method.name!r} " + "; ".join(problems))
        self._methods[method.name] = method


def _declaration_problems(method: Method) -> list[str]:
    problems = []
    if method.name.startswith("system.") or not method.name:
        problems.append("needs a name outside 'system.'")
    if not method.doc or "\n" in method.doc:
        problems.append("needs a one-line doc")
    if method.returns not in _RETURN_TYPES:
        problems.append(f"returns unknown type {method.returns!r}")
    names = [p.name for p in method.params]
    if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
        problems.append("needs distinct parameter names that are identifiers")
    for param in method.params:
        if param.type not in WIRE_TYPES or (param.items is not None and (
                param.type is not list or param.items not in WIRE_TYPES)):
            problems.append(f"declares parameter {param.name!r} with an unsupported type")
    if method.params and method.params[0].type is dict:
        problems.append("may not take a struct first (a lone struct means 'by name')")
    requirements = [p.required for p in method.params]
    if requirements != sorted(requirements, reverse=True):
        problems.append("lists an optional parameter before a required one")
    try:
        signature = inspect.signature(method.func)
        signature.bind(None, **{p.name: None for p in method.params})
        signature.bind(None, **{p.name: None for p in method.params if p.required})
    except TypeError as mismatch:
        problems.append(f"does not match its function's signature ({mismatch})")
    return problems
