"""The SOAP service generated from the operation catalogue.

Each catalogue entry becomes one document/literal wrapped operation whose
parameters are the request message's fields and whose result is the result
message; the types come from the same dataclasses the XML-RPC door uses, so
the two doors cannot drift apart.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Callable

from spyne import Boolean, ComplexModel, DateTime, Double, Integer32, Service, Unicode, rpc
from spyne.model.complex import ComplexModelBase

from service.services import OPERATIONS, Operation
from service.services.schema import INT_MAX, FieldSpec, fields_of, from_plain
from service.soap.codec import encode_result
from service.soap.faults import TNS

_MODELS: dict[type, type] = {}
#: The largest maxOccurs the WSDL declares (JAXB's default limit of a content model).
MAX_DECLARED_OCCURS = 5000


def model_of(cls: type) -> type:
    """The Spyne type of a message dataclass (one class per dataclass, cached)."""
    model = _MODELS.get(cls)
    if model is None:
        doc = (cls.__doc__ or "").strip()
        if doc.startswith(cls.__name__ + "("):  # dataclasses invent a docstring
            doc = ""
        model = ComplexModel.produce(TNS, cls.__name__, {
            spec.name: field_model(spec) for spec in fields_of(cls)})
        if doc:
            model = model.customize(doc=doc)
        _MODELS[cls] = model
    return model


def field_model(spec: FieldSpec) -> type:
    """The Spyne type of one field, with its constraints, occurrence and documentation.

    A constrained simple type is named after its constraint (``String200``,
    ``Int1To1000``), so every field with the same constraint shares one type.
    The name and the element's own options (occurrence, nillable, documentation)
    go into one ``customize`` call: customizing an already named type again
    would make Spyne derive a new type named after the field's owner
    (``<Owner>_<field>Type``). Each field's class thus carries the shared name,
    and the schema, which holds one simple type per name, declares it once.
    """
    base = spec.base
    options: dict[str, Any] = {}
    if base is str:
        model = Unicode
        if spec.max_len is not None:
            options["max_len"] = spec.max_len
            options["type_name"] = f"String{spec.max_len}"
    elif base is bool:
        model = Boolean
    elif base is int:
        model = Integer32
        low = spec.min
        # xs:int is that range already: an explicit bound would only add a named type,
        # which some clients (suds) then read back as text instead of a number.
        high = None if spec.max == INT_MAX else spec.max
        if low is not None:
            options["ge"] = low
        if high is not None:
            options["le"] = high
        if options:
            options["type_name"] = (f"IntAtLeast{low}" if high is None else
                                    f"IntAtMost{high}" if low is None else f"Int{low}To{high}")
    elif base is datetime:
        model = DateTime
    elif base is float:
        model = Double
    elif dataclasses.is_dataclass(base):
        model = model_of(base)
    else:
        raise TypeError(f"no SOAP type for {base!r}")
    if options:
        # Without the namespace Spyne files a named simple type under its own
        # module's name (e.g. spyne.model.primitive.string) in the WSDL.
        options["__namespace__"] = TNS
    # Required fields are required and never nil: generated clients (wsimport,
    # svcutil) then use plain types instead of JAXBElement-style wrappers.
    options["min_occurs"] = 1 if spec.required or (spec.is_list and spec.min_items) else 0
    options["nillable"] = False
    if spec.is_list:
        options["min_occurs"] = spec.min_items
        # Above 5,000 wsimport warns that the content model is too large to check;
        # such a limit (10,000 rows) stays unbounded here and is enforced by from_plain.
        options["max_occurs"] = spec.max_items if spec.max_items and \
            spec.max_items <= MAX_DECLARED_OCCURS else "unbounded"
    if spec.doc:
        options["doc"] = spec.doc
    return model.customize(**options)


def decode_request(op: Operation, names: list[str], args: tuple) -> Any:
    """The request message of ``op`` from the arguments Spyne parsed, checked as on
    every door (schema.from_plain); its counterpart is codec.encode_result."""
    return from_plain(op.request, {name: _plain(value) for name, value in zip(names, args)
                                   if value is not None})


def _plain(value: Any) -> Any:
    if isinstance(value, ComplexModelBase):
        return {name: _plain(getattr(value, name, None))
                for name in type(value).get_flat_type_info(type(value))
                if getattr(value, name, None) is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


_SERVICE: list[type] = []


def build_service(call: Callable[[Any, Operation, Any], Any],
                  throws: Callable[[Operation], list[type]]) -> type:
    """The Spyne Service with one method per catalogue operation, built once per process.

    ``call(ctx, op, request)`` runs the operation for the caller of ``ctx``;
    ``throws(op)`` lists the Fault classes the WSDL declares for it. Spyne names
    anonymous types while it builds an interface and keeps those names on the
    classes, so the classes are made once: every application built from them
    then publishes the very same WSDL.
    """
    if not _SERVICE:
        methods = {op.name: _method(op, call, throws(op)) for op in OPERATIONS.values()}
        _SERVICE.append(type("FeedloopService", (Service,), methods))
    return _SERVICE[0]


def _method(op: Operation, call, faults: list[type]):
    specs = fields_of(op.request)
    names = [spec.name for spec in specs]

    def method(ctx, *args):
        result = call(ctx, op, decode_request(op, names, args))
        # A ready out_string is Spyne's documented way to write the answer oneself.
        ctx.out_string = [encode_result(op.name, result)]

    method.__name__ = op.name
    method.__doc__ = op.doc
    return rpc(*[field_model(spec) for spec in specs], _args=names,
               # Named after the operation, as its element is: <Op>Result of type <Op>Result.
               _returns=model_of(op.result).customize(type_name=op.name + "Result",
                                                      min_occurs=1, nillable=False),
               _operation_name=op.name, _throws=faults)(method)
