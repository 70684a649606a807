"""A SOAP call's arguments read from its schema-valid Body as plain values.

Spyne turns a request into an object per complex value, each set field by field
through its descriptors (``complex_from_element``); for a 10,000-row AddRespondents
that was a third of the call, more than the database took. The arguments end up as
plain dicts and lists anyway (``operations.decode_request``, where every door's
checks run), so here they are read straight from the tree: Spyne has already
validated the Body against the WSDL's schema (``validator="lxml"``), so each
element is a declared field, in its declared order, with its declared type.

Strings and whole numbers, nearly every value of a call, are converted here exactly
as Spyne converts them (the element's text, or ''; ``int`` of the text); every other
type (booleans, date-times, doubles) by Spyne's own ``from_element``. Anything this
reader does not expect (an attribute on a field, an element no field is named
after) makes ``read_arguments`` return None, and Spyne reads the call as before.
tests/unit/test_soap_reader.py holds the two to the same answers.
"""
from __future__ import annotations

from typing import Any

from lxml import etree
from spyne.model.complex import ComplexModelBase
from spyne.model.primitive import Integer, Unicode

_STRING, _INTEGER, _MESSAGE, _OTHER = range(4)


class _NotPlain(Exception):
    """The Body holds something only Spyne's own reader is trusted with."""


class _Plan:
    """How to read the fields of one complex type: by local name, (key, kind, many, class)."""

    def __init__(self, protocol, cls: type) -> None:
        fields = cls.get_flat_type_info(cls)
        self.order = list(fields)
        self.members: dict[str, tuple[str, int, bool, type]] = {}
        for key, member in fields.items():
            attrs = protocol.get_cls_attrs(member)
            if issubclass(member, ComplexModelBase):
                kind = _MESSAGE
            elif issubclass(member, Unicode) and not attrs.empty_is_none:
                kind = _STRING
            elif issubclass(member, Integer) and attrs.max_str_len is None \
                    and not attrs.empty_is_none:
                kind = _INTEGER
            else:
                kind = _OTHER
            self.members[key] = (key, kind, attrs.max_occurs > 1, member)


class ArgumentReader:
    """Reads the arguments of calls for one Spyne protocol instance (plans kept per type)."""

    def __init__(self, protocol) -> None:
        self.protocol = protocol
        self.plans: dict[type, _Plan] = {}

    def read_arguments(self, ctx, message_cls: type, body: etree._Element) -> tuple | None:
        """The call's arguments in declaration order (None where absent), as
        ``decode_request`` takes them; None when Spyne should read this Body itself."""
        try:
            values = self._complex(ctx, message_cls, body)
        except _NotPlain:
            return None
        return tuple(values.get(key) for key in self._plan(message_cls).order)

    def _plan(self, cls: type) -> _Plan:
        plan = self.plans.get(cls)
        if plan is None:
            plan = self.plans[cls] = _Plan(self.protocol, cls)
        return plan

    def _complex(self, ctx, cls: type, element: etree._Element) -> dict[str, Any]:
        if element.attrib:
            raise _NotPlain
        members = self._plan(cls).members
        values: dict[str, Any] = {}
        for child in element:
            tag = child.tag
            if type(tag) is not str:   # a comment or processing instruction
                raise _NotPlain
            member = members.get(tag[tag.find("}") + 1:])
            if member is None or child.attrib:
                raise _NotPlain
            key, kind, many, member_cls = member
            if kind is _STRING:
                value = child.text or ""
            elif kind is _INTEGER:
                value = int(child.text)
            elif kind is _MESSAGE:
                value = self._complex(ctx, member_cls, child)
            else:
                value = self.protocol.from_element(ctx, member_cls, child)
            if many:
                values.setdefault(key, []).append(value)
            else:
                values[key] = value
        return {key: value for key, value in values.items() if value is not None} \
            if None in values.values() else values
