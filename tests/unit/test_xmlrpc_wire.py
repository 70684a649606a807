"""The XML-RPC door's own reader and writer give exactly what the stdlib gives.

read_call converts a call from the tree check_xml built, or leaves it to the stdlib
(None); write_result writes a result. Generated calls, spelled every way XML-RPC
allows, are read as xmlrpc.client.loads reads them; generated documents spoiled at a
random place are either left to the stdlib or read as the stdlib reads them (never
accepted where the stdlib refuses); generated results are written to the very text
xmlrpc.client.dumps writes.
"""
from __future__ import annotations

import base64
import re
import xmlrpc.client
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from service.http.xmlguard import check_xml
from service.xmlrpc.door import XmlRpcFault, _loads
from service.xmlrpc.wire import read_call, write_result

MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Characters an XML 1.0 document can carry (a parser turns a CR into a LF, on both sides).
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=(
    [chr(c) for c in range(32) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff"])), max_size=12)


@dataclass
class Node:
    """An element as written: tag, text before the first child, children, text after it."""
    tag: str
    text: str = ""
    children: list[Node] = field(default_factory=list)
    tail: str = ""

    def render(self) -> str:
        inner = self.text + "".join(child.render() for child in self.children)
        return f"<{self.tag}>{inner}</{self.tag}>{self.tail}"


def texts(value: str) -> st.SearchStrategy[str]:
    """``value`` as character data: escaped, as character references, or in a CDATA section."""
    choices = [escape(value), "".join(f"&#{ord(c)};" for c in value).replace("&#13;", "\n")]
    if "]]>" not in value and "\r" not in value:
        choices.append(f"<![CDATA[{value}]]>")
    return st.sampled_from(choices)


def spaced(node: Node) -> st.SearchStrategy[Node]:
    """``node`` with or without the whitespace clients put between elements."""
    return st.sampled_from(["", "\n", " \n\t"]).map(
        lambda space: Node(node.tag, node.text or (space if node.children else ""),
                           node.children, space))


def scalar(tag: str, text: str) -> st.SearchStrategy[Node]:
    return spaced(Node("value", children=[Node(tag, text)]))


INTEGERS = st.integers(-2**70, 2**70).flatmap(lambda n: st.tuples(st.just(n), st.sampled_from(
    ["int", "i4", "i8", "i1", "i2", "biginteger"]).flatmap(
    lambda tag: scalar(tag, f" {n} " if n % 3 == 0 else str(n)))))
BOOLEANS = st.booleans().flatmap(lambda b: st.tuples(st.just(b), scalar("boolean", str(int(b)))))
DOUBLES = st.floats(allow_nan=False).flatmap(lambda f: st.tuples(st.just(f), st.sampled_from(
    ["double", "float"]).flatmap(lambda tag: scalar(tag, repr(f)))))
STRINGS = XML_TEXT.flatmap(lambda s: st.tuples(st.just(s.replace("\r", "\n")), texts(s).flatmap(
    lambda text: st.sampled_from([Node("value", text), Node("value", children=[
        Node("string", text)])]))))
DATES = st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda d: d.replace(microsecond=0)) \
    .flatmap(lambda d: st.tuples(st.just(d), scalar("dateTime.iso8601",
                                                    d.strftime("%Y%m%dT%H:%M:%S"))))
BINARIES = st.binary(max_size=40).flatmap(lambda b: st.tuples(st.just(b), scalar(
    "base64", base64.encodebytes(b).decode())))
NILS = st.builds(lambda: (None, Node("value", children=[Node("nil")])))


def structs(members: st.SearchStrategy) -> st.SearchStrategy:
    def build(pairs: dict) -> tuple[dict, Node]:
        return ({name: value for name, (value, _) in pairs.items()}, Node("value", children=[
            Node("struct", children=[Node("member", children=[Node("name", escape(name)), node])
                                     for name, (_, node) in pairs.items()])]))
    return st.dictionaries(XML_TEXT.map(lambda s: s.replace("\r", "\n")), members,
                           max_size=4).map(build)


def arrays(items: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(items, max_size=4).map(lambda pairs: (
        [value for value, _ in pairs], Node("value", children=[Node("array", children=[
            Node("data", children=[node for _, node in pairs])])])))


#: (value, its <value> element) for every type a call can carry.
VALUES = st.recursive(INTEGERS | BOOLEANS | DOUBLES | STRINGS | DATES | BINARIES | NILS,
                      lambda inner: structs(inner) | arrays(inner), max_leaves=12)


@st.composite
def calls(draw) -> tuple[tuple, str, Node]:
    method = draw(XML_TEXT.map(lambda s: s.replace("\r", "\n")))
    params = draw(st.lists(VALUES, max_size=3))
    children = [Node("methodName", draw(texts(method)))]
    if params or draw(st.booleans()):
        children.append(Node("params", children=[Node("param", children=[node])
                                                  for _, node in params]))
    return tuple(value for value, _ in params), method, Node("methodCall", children=children)


def document(call: Node, declared: bool = True) -> bytes:
    return (("<?xml version='1.0'?>\n" if declared else "") + call.render()).encode()


@MANY
@given(call=calls(), declared=st.booleans())
def test_a_call_is_read_as_the_stdlib_reads_it(call, declared):
    params, method, root = call
    body = document(root, declared)
    expected = xmlrpc.client.loads(body, use_builtin_types=True)
    assert expected == (params, method)
    assert read_call(check_xml(body), body) == expected


TAGS = ["methodCall", "methodName", "params", "param", "value", "struct", "member", "name",
        "array", "data", "int", "i4", "boolean", "double", "string", "dateTime.iso8601",
        "base64", "nil", "bigdecimal", "fault", "foo"]
JUNK = st.sampled_from(["", " ", "x", "1", "0", "-7", "2.5", "1_000", "\u0661\u0662", "inf",
                        "20200101T00:00:00", " 20200101T00:00:00", "YWJj", "YW=Jj", "\u00e9"])


@st.composite
def spoiled(draw, node: Node) -> Node:
    """``node`` with one of its elements renamed, emptied, removed, repeated or given a child."""
    elements = [node]
    for element in elements:
        elements += element.children
    target = draw(st.sampled_from(elements))
    how = draw(st.sampled_from(["rename", "text", "remove", "repeat", "adopt"]))
    parent = next((e for e in elements if any(c is target for c in e.children)), None)
    if how == "rename":
        target.tag = draw(st.sampled_from(TAGS))
    elif how == "text":
        target.text = draw(JUNK)
    elif how == "remove" and parent is not None:
        parent.children.remove(target)
    elif how == "repeat" and parent is not None:
        parent.children.insert(parent.children.index(target), Node(target.tag, target.text))
    else:
        target.children.insert(draw(st.integers(0, len(target.children))),
                               Node(draw(st.sampled_from(TAGS)), draw(JUNK)))
    return node


def stdlib_answer(body: bytes) -> tuple | str:
    """What the door's stdlib parse makes of a body: the call, or the fault's code."""
    try:
        return _loads(body)
    except XmlRpcFault as refusal:
        return refusal.fault.faultString.partition(":")[0]


@MANY
@given(data=st.data())
def test_a_spoiled_call_is_left_to_the_stdlib_or_read_as_the_stdlib_reads_it(data):
    _, _, root = data.draw(calls())
    for _ in range(data.draw(st.integers(1, 3))):
        root = data.draw(spoiled(root))
    body = document(root)
    read = read_call(check_xml(body), body)
    assert read is None or read == stdlib_answer(body)


@pytest.mark.parametrize("body", [
    b"<methodCall><methodName>m</methodName><params><param><value><int>1_</int></value>"
    b"</param></params></methodCall>",
    b"<methodCall><methodName>m</methodName><params><param><value><boolean>true</boolean>"
    b"</value></param></params></methodCall>",
    b"<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a"
    b"</name></member></struct></value></param></params></methodCall>",
    b"<methodCall><params><param><value>a</value></param></params></methodCall>",
    b"<methodCall><methodName>m</methodName><params><param><value><x>1</x></value></param>"
    b"</params></methodCall>",
    b"<methodResponse><params><param><value>a</value></param></params></methodResponse>",
    b"<methodCall><methodName>m</methodName><params><param><value><ex:nil "
    b"xmlns:ex='urn:x'/></value></param></params></methodCall>",
    # The stdlib reads these otherwise than their shape suggests: 2 (the text after the
    # inner tag), the struct key "b", the list ["1"] (no data element needed).
    b"<methodCall><methodName>m</methodName><params><param><value><int>1<x/>2</int></value>"
    b"</param></params></methodCall>",
    b"<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a"
    b"<x/>b</name><value>1</value></member></struct></value></param></params></methodCall>",
    b"<methodCall><methodName>m</methodName><params><param><value><array><value>1</value>"
    b"</array></value></param></params></methodCall>",
])
def test_what_is_not_a_plain_call_is_left_to_the_stdlib(body):
    assert read_call(check_xml(body), body) is None


@pytest.mark.parametrize("name", ["\u2070", "xmlns:\u2070"])
def test_an_attribute_name_or_namespace_prefix_the_stdlib_parser_refuses_is_left_to_it(name):
    # U+2070 may start a name in XML 1.0's fifth edition (libxml2), not in the fourth (expat).
    body = f"<methodCall {name}='urn:x'><methodName>m</methodName></methodCall>".encode()
    assert read_call(check_xml(body), body) is None
    assert stdlib_answer(body) == "ParseError"


def test_an_ascii_call_with_attributes_is_read_as_the_stdlib_reads_it():
    body = b"<methodCall id='1'><methodName a='b'>m</methodName></methodCall>"
    assert read_call(check_xml(body), body) == ((), "m") == stdlib_answer(body)


@pytest.mark.parametrize("snippet, code", [
    ("<value><int>x</int></value>", "ParseError"),
    ("<value><boolean>2</boolean></value>", "ParseError"),
    ("<value><struct><member><value>1</value></member></struct></value>", "ParseError"),
    ("<value><foo>1</foo></value>", "ParseError"),
    ("<value><dateTime.iso8601>2020</dateTime.iso8601></value>", "ParseError"),
    ("<value><base64>\u00e9</base64></value>", "ParseError"),
])
def test_a_malformed_value_is_left_to_the_stdlib_which_refuses_it(snippet, code):
    body = (f"<methodCall><methodName>m</methodName><params><param>{snippet}</param>"
            "</params></methodCall>").encode()
    assert read_call(check_xml(body), body) is None
    assert stdlib_answer(body) == code


def test_a_document_without_a_method_name_is_refused_as_an_invalid_request():
    body = b"<methodCall><params><param><value>a</value></param></params></methodCall>"
    assert read_call(check_xml(body), body) is None
    assert stdlib_answer(body) == "InvalidRequest"


# -- writing ------------------------------------------------------------------------

RESULTS = st.recursive(
    st.text() | st.integers(xmlrpc.client.MININT, xmlrpc.client.MAXINT) | st.booleans()
    | st.floats() | st.datetimes(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


def dumped(result) -> str:
    return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False,
                               encoding="utf-8")


#: The line breaks the stdlib writes between elements: each follows one of these tags
#: (a line break of a value follows its <string> or <name>, or text, never one of them).
_BETWEEN_ELEMENTS = re.compile(r"(\?>|<methodResponse>|</?params?>|</methodResponse>|<struct>|"
                               r"<member>|</name>|</member>|</value>|<data>)\n")


@MANY
@given(result=RESULTS)
def test_a_result_is_written_as_the_stdlib_writes_it_without_line_breaks_between_elements(
        result):
    assert write_result(result) == _BETWEEN_ELEMENTS.sub(r"\1", dumped(result))


@pytest.mark.parametrize("text", ["\n", "a\n", "\nb", "line\r\nbreak", " \n "])
def test_line_breaks_within_values_are_kept(text):
    written = write_result({text: [text, {"k": text}]})
    read = text.replace("\r\n", "\n")   # as any XML parser normalises a line break
    assert xmlrpc.client.loads(written)[0][0] == {read: [read, {"k": read}]}
    assert "\n<" not in written.replace(f">{text}<", "")


def test_a_written_result_reads_back_as_the_result():
    result = {"rows": [{"email": "a&b<c>@example.com", "n": 7, "ok": True,
                        "at": datetime(2026, 12, 1, 6, 0, 1)}], "ratio": 0.5}
    assert xmlrpc.client.loads(write_result(result), use_builtin_types=True) == ((result,), None)


@pytest.mark.parametrize("result, error", [(2**31, OverflowError), (-2**31 - 1, OverflowError),
                                           ({"a": {1: "x"}}, TypeError)])
def test_what_the_stdlib_cannot_write_is_refused_with_its_error(result, error):
    with pytest.raises(error) as stdlib:
        dumped(result)
    with pytest.raises(error, match=f"^{stdlib.value}$"):
        write_result(result)


def test_a_value_of_no_xmlrpc_type_is_refused():
    with pytest.raises(TypeError, match="cannot marshal <class 'NoneType'> objects"):
        write_result([1, None])
