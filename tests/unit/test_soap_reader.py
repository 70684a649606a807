"""The SOAP door's argument reader gives exactly what Spyne's own deserialisation gives.

For every operation of the catalogue, requests are generated from its message's fields
(optional ones present or not, lists of several items, nested messages, every type the
WSDL uses, texts escaped, as character references or in CDATA, whitespace between
elements, either namespace spelling) and kept when the served schema accepts them, as
the door only ever reads a validated Body. ``read_arguments`` must then give the
arguments Spyne's ``from_element`` gives, converted to plain values as the door does
(``decode_request``), with the same Python types; what it does not expect, it leaves
to Spyne (None).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from lxml import etree

from service.services import OPERATIONS
from service.services.schema import INT_MAX, fields_of
from service.soap.door import _application
from service.soap.faults import TNS
from service.soap.operations import _plain
from spyne import MethodContext  # after service.soap, which readies spyne's import

SERVER, _WSDL = _application("http://127.0.0.1:8000")
PROTOCOL = SERVER.app.in_protocol
MANY = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=(
    [chr(c) for c in range(32) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff"])), max_size=8)


def character_data(value: str) -> st.SearchStrategy[str]:
    choices = [escape(value), "".join(f"&#{ord(c)};" for c in value)]
    if "]]>" not in value:
        choices.append(f"<![CDATA[{value}]]>")
    return st.sampled_from(choices)


def lexical(spec) -> st.SearchStrategy[str]:
    """The text of one value of ``spec``'s type, spelled as clients spell it."""
    if spec.base is str:
        return XML_TEXT.map(lambda s: s[:spec.max_len] if spec.max_len else s) \
            .flatmap(character_data)
    if spec.base is int:
        low = spec.min if spec.min is not None else -2**31
        high = spec.max if spec.max is not None else INT_MAX
        return st.integers(low, high).flatmap(lambda n: st.sampled_from(
            [str(n), f" {n}\n", f"+{n}" if n >= 0 else str(n), f"{'-' if n < 0 else ''}00{abs(n)}"]))
    if spec.base is bool:
        return st.sampled_from(["true", "false", "1", "0", " true "])
    if spec.base is datetime:
        return st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)) \
            .flatmap(lambda d: st.sampled_from([d.isoformat(), d.isoformat() + "Z",
                                                d.isoformat() + "+02:00",
                                                d.replace(microsecond=0).isoformat()]))
    if spec.base is float:
        return st.one_of(st.floats(allow_nan=False).map(repr),
                         st.sampled_from(["INF", "-INF", "1e3", " 2.5 "]))
    raise AssertionError(f"no generator for {spec.base!r}")


@st.composite
def message_xml(draw, cls: type, prefix: str, depth: int = 0) -> str:
    """The children of an element of message ``cls``, in declaration order."""
    parts = []
    for spec in fields_of(cls):
        if spec.is_list:
            count = draw(st.integers(spec.min_items, min(spec.max_items or 3, 3)))
        else:
            count = 1 if spec.required or draw(st.booleans()) else 0
        if depth > 3 and not spec.required:
            count = min(count, spec.min_items if spec.is_list else 0)
        for _ in range(count):
            inner = (draw(message_xml(spec.base, prefix, depth + 1))
                     if dataclasses.is_dataclass(spec.base) else draw(lexical(spec)))
            space = draw(st.sampled_from(["", "\n  ", " "]))
            parts.append(f"{space}<{prefix}{spec.name}>{inner}</{prefix}{spec.name}>")
    return "".join(parts)


@st.composite
def request(draw, op_name: str) -> etree._Element:
    op = OPERATIONS[op_name]
    spelled = draw(st.sampled_from([("tns:", f' xmlns:tns="{TNS}"'), ("", f' xmlns="{TNS}"')]))
    prefix, declaration = spelled
    text = f"<{prefix}{op.name}{declaration}>{draw(message_xml(op.request, prefix))}" \
           f"</{prefix}{op.name}>"
    return etree.fromstring(text.encode())


def descriptor(op_name: str):
    return SERVER.app.interface.service_method_map[f"{{{TNS}}}{op_name}"][0]


def typed(value):
    """``value`` with the type of every part spelled out (True is not 1, 1.0 is not 1)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, repr(value))


def arguments_both_ways(op_name: str, body: etree._Element):
    names = [spec.name for spec in fields_of(OPERATIONS[op_name].request)]
    in_message = descriptor(op_name).in_message
    ctx = MethodContext(SERVER, MethodContext.SERVER)
    fast = PROTOCOL.arguments.read_arguments(ctx, in_message, body)
    spyne = tuple(PROTOCOL.from_element(ctx, in_message, body))
    plain = lambda args: {name: _plain(value) for name, value in zip(names, args)
                          if value is not None}
    return (None if fast is None else typed(plain(fast))), typed(plain(spyne))


def valid(body: etree._Element) -> bool:
    return PROTOCOL.validation_schema.validate(body)


@pytest.mark.parametrize("op_name", sorted(OPERATIONS))
@MANY
@given(data=st.data())
def test_every_operation_reads_as_spyne_reads(op_name, data):
    body = data.draw(request(op_name))
    assume(valid(body))
    fast, spyne = arguments_both_ways(op_name, body)
    assert fast == spyne


def test_a_bulk_call_reads_as_spyne_reads():
    rows = "".join(f"<tns:respondents><tns:email>p{i}@example.com</tns:email>"
                   f"<tns:params><tns:name>n</tns:name><tns:value>{i}</tns:value></tns:params>"
                   f"<tns:event_id>e{i}</tns:event_id></tns:respondents>"
                   for i in range(300))
    body = etree.fromstring(f'<tns:AddRespondents xmlns:tns="{TNS}"><tns:campaign_id>7'
                            f'</tns:campaign_id>{rows}</tns:AddRespondents>'.encode())
    assert valid(body)
    fast, spyne = arguments_both_ways("AddRespondents", body)
    assert fast == spyne
    assert len(fast["respondents"]) == 300
    assert fast["campaign_id"] == ("int", "7")
    assert fast["respondents"][5]["params"] == [{"name": ("str", "'n'"),
                                                 "value": ("str", "'5'")}]


@pytest.mark.parametrize("body", [
    # An attribute the schema lets through on a field (and on the operation's element).
    f'<tns:GetCampaign xmlns:tns="{TNS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    '<tns:campaign_id xsi:schemaLocation="a b">3</tns:campaign_id></tns:GetCampaign>',
    f'<tns:GetCampaign xmlns:tns="{TNS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xsi:schemaLocation="a b"><tns:campaign_id>3</tns:campaign_id></tns:GetCampaign>',
    # An element no field is named after (never in a valid Body: the reader does not guess).
    f'<tns:GetCampaign xmlns:tns="{TNS}"><tns:campaign_id>3</tns:campaign_id>'
    '<tns:other>1</tns:other></tns:GetCampaign>',
])
def test_what_the_reader_does_not_expect_is_left_to_spyne(body):
    ctx = MethodContext(SERVER, MethodContext.SERVER)
    element = etree.fromstring(body.encode())
    assert PROTOCOL.arguments.read_arguments(
        ctx, descriptor("GetCampaign").in_message, element) is None


def test_a_processing_instruction_inside_the_body_is_left_to_spyne():
    ctx = MethodContext(SERVER, MethodContext.SERVER)
    element = etree.fromstring(f'<tns:GetCampaign xmlns:tns="{TNS}"><?pi x?>'
                               '<tns:campaign_id>3</tns:campaign_id></tns:GetCampaign>'.encode())
    assert PROTOCOL.arguments.read_arguments(
        ctx, descriptor("GetCampaign").in_message, element) is None


@pytest.mark.parametrize("envelope", [
    '<s:Envelope xmlns:s="{env}"><s:Body><a/></s:Body></s:Envelope>',
    '<s:Envelope xmlns:s="{env}"><s:Header/><s:Body><a/><b/></s:Body></s:Envelope>',
    '<s:Envelope xmlns:s="{env}"><s:Header><h1/><h2/></s:Header><s:Body><a/></s:Body>'
    '</s:Envelope>',
    '<s:Envelope xmlns:s="{env}"><s:Body/></s:Envelope>',
    '<s:Envelope xmlns:s="{env}"><s:Header><h/></s:Header></s:Envelope>',
    '<s:Envelope xmlns:s="{env}"><s:Body><a/></s:Body><s:Header><h/></s:Header>'
    '<s:Body><z/></s:Body></s:Envelope>',
    '<s:Envelope xmlns:s="{env}" xmlns:o="urn:other"><o:Header><h/></o:Header>'
    '<s:Body><a/></s:Body></s:Envelope>',
])
def test_the_envelope_is_taken_apart_as_spyne_takes_it_apart(envelope):
    from spyne.protocol.soap.soap11 import _from_soap

    from service.soap.door import envelope_parts
    from service.soap.faults import SOAP11_ENV
    root = etree.fromstring(envelope.format(env=SOAP11_ENV).encode())
    ours, spyne = envelope_parts(root), _from_soap(root, {}, ns=SOAP11_ENV)
    assert ours[0] == spyne[0] and ours[1] == spyne[1]


def test_an_empty_envelope_is_refused_as_spyne_refuses_it():
    from spyne.model.fault import Fault
    from spyne.protocol.soap.soap11 import _from_soap

    from service.soap.door import envelope_parts
    from service.soap.faults import SOAP11_ENV
    root = etree.fromstring(f'<s:Envelope xmlns:s="{SOAP11_ENV}"/>'.encode())
    with pytest.raises(Fault) as spyne:
        _from_soap(root, {}, ns=SOAP11_ENV)
    with pytest.raises(Fault) as ours:
        envelope_parts(root)
    assert (ours.value.faultcode, ours.value.faultstring) == \
        (spyne.value.faultcode, spyne.value.faultstring)
