"""check_xml on its own: what passes, what is refused, and at which limit."""
from __future__ import annotations


import pytest

import service.http.xmlguard as xmlguard
from service.domain.errors import InvalidRequest, RequestTooLarge
from service.http.xmlguard import XmlLimits, check_xml
from tests.support.hostile import CORPUS

ROW = (b"<row><email>someone.somewhere@example.com</email><crm_id>C-123456</crm_id>"
       b"<params><param><name>ticket</name><value>T-99999</value></param></params>"
       b"<attributes><attribute><name>region</name><value>north</value></attribute>"
       b"</attributes></row>")
LIMITS = XmlLimits()


def refusal(body: bytes, limits: XmlLimits = LIMITS) -> tuple[type, str]:
    with pytest.raises((InvalidRequest, RequestTooLarge)) as caught:
        check_xml(body, limits)
    return type(caught.value), caught.value.message


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def test_a_bulk_call_of_10000_rows_passes_and_returns_the_tree():
    body = b"<rows>" + ROW * 10_000 + b"</rows>"
    root = check_xml(body, LIMITS)
    assert root.tag == "rows" and len(root) == 10_000


def test_depth_is_counted_from_the_root():
    assert check_xml(nested(64), LIMITS).tag == "a"
    assert refusal(nested(65)) == (InvalidRequest, "The document is nested deeper than 64 "
                                                   "levels.")


def test_element_count_is_refused_before_parsing():
    body = b"<a>" + b"<b/>" * 500_000 + b"</a>"
    assert refusal(body) == (RequestTooLarge, "The document has more than 500000 elements.")


def test_text_at_the_limit_passes_and_one_more_character_does_not():
    limits = XmlLimits(max_text_bytes=100)
    assert check_xml(b"<a>" + b"x" * 100 + b"</a>", limits).text == "x" * 100
    assert refusal(b"<a>" + b"x" * 101 + b"</a>", limits) == (
        RequestTooLarge, "A text value is longer than 100 bytes.")


@pytest.mark.parametrize("body", [
    b"<a>" + b"x" * 60 + b"<!-- joined -->" + b"x" * 60 + b"</a>",     # texts a comment joins
    b"<a><![CDATA[" + b"<" * 101 + b"]]></a>",                           # '<' inside CDATA
    b"<a>" + b"x" * 60 + b"<![CDATA[" + b"y" * 41 + b"]]></a>",           # text and CDATA
    b"<a><b>" + b"x" * 10 + b"</b>" + "é".encode() * 101 + b"</a>",      # characters, not bytes
])
def test_a_long_text_the_bytes_hide_is_found_in_the_tree(body):
    assert refusal(body, XmlLimits(max_text_bytes=100)) == (
        RequestTooLarge, "A text value is longer than 100 bytes.")


def test_short_values_in_a_document_longer_than_the_limit_pass():
    body = b"<a>" + b'<b v="' + b"v" * 100 + b'">' + b"x" * 100 + b"</b>" * 1 + b"</a>"
    assert check_xml(b"<r>" + body * 50 + b"</r>", XmlLimits(max_text_bytes=100)).tag == "r"
    assert check_xml(b"<r>" + b"x" * 50 + b"&amp;" * 20 + b"</r>",
                     XmlLimits(max_text_bytes=100)).text == "x" * 50 + "&" * 20


@pytest.mark.parametrize("limit", [100, 101, 4096])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_run_one_byte_over_the_limit_is_found_wherever_it_lies(limit, where):
    # Runs longer than the limit are found by searching windows of half its size laid
    # end to end: one byte over, at any offset from the windows, must still be seen.
    for offset in range(0, limit // 2 + 3):
        filler = b"<b/>" * offset
        long, short = b"x" * (limit + 1), b"x" * limit
        for text, refused in ((long, True), (short, False)):
            body = {"start": b"<r>" + text + b"<b/>" + filler + b"</r>",
                    "middle": b"<r>" + filler + b"<c>" + text + b"</c>" + filler + b"</r>",
                    "end": b"<r>" + filler + b"<b/>" * 200 + text + b"</r>"}[where]
            assert xmlguard._may_hold_long_text(body, limit) is True or not refused, \
                (offset, where)
            if refused:
                assert refusal(body, XmlLimits(max_text_bytes=limit))[0] is RequestTooLarge
            else:
                assert check_xml(body, XmlLimits(max_text_bytes=limit)).tag == "r"


def test_a_long_attribute_value_counts_as_text():
    assert refusal(b'<a v="' + b"x" * 101 + b'"/>', XmlLimits(max_text_bytes=100)) == (
        RequestTooLarge, "A text value is longer than 100 bytes.")


@pytest.mark.parametrize("prolog", [b"", b'<?xml version="1.0"?>', b"\xef\xbb\xbf",
                                    b"<!-- a comment -->\n", b'<?xml version="1.0"?>\n\n'])
def test_a_doctype_after_any_prolog_is_refused(prolog):
    assert refusal(prolog + b"<!DOCTYPE a><a/>") == (
        InvalidRequest, "Document type declarations (DOCTYPE) are not accepted, so neither "
                        "are entities other than the five predefined ones.")


def test_doctype_is_refused_even_if_the_prolog_scan_missed_it(monkeypatch):
    monkeypatch.setattr(xmlguard, "_has_doctype", lambda body: False)
    for name in ("xxe-file", "xxe-network", "billion-laughs", "quadratic-blowup"):
        assert refusal(CORPUS[name][0])[0] is InvalidRequest


def test_doctype_text_in_cdata_or_comment_is_accepted():
    assert check_xml(b"<a><![CDATA[<!DOCTYPE html>]]><!-- <!DOCTYPE x> --></a>",
                     LIMITS).text == "<!DOCTYPE html>"


@pytest.mark.parametrize("body", ['<a>é</a>'.encode("utf-16"), b"\xfe\xff\x00<\x00a\x00/\x00>"])
def test_utf16_is_refused(body):
    assert refusal(body) == (InvalidRequest, "Only UTF-8 documents are accepted.")


def test_utf8_with_byte_order_mark_passes():
    assert check_xml("\ufeff<a>é</a>".encode(), LIMITS).text == "é"


def test_predefined_and_numeric_entities_still_work():
    assert check_xml(b"<a>&lt;&amp;&#233;</a>", LIMITS).text == "<&é"


@pytest.mark.parametrize("body", [b"<a><?pi x?></a>", b"<?pi x?><a/>", b"<a/><?pi x?>",
                                  b'<?xml version="1.0"?><?xml-stylesheet href="s"?><a/>',
                                  b'<?xml-stylesheet href="s"?><a/>',
                                  b'\xef\xbb\xbf<?xml-stylesheet href="s"?><a/>',
                                  b'<?xml version="1.0"?><a/><?xml-stylesheet href="s"?>'])
def test_a_processing_instruction_anywhere_is_refused(body):
    assert refusal(body) == (InvalidRequest, "Processing instructions are not accepted.")


def test_the_xml_declaration_is_no_processing_instruction():
    assert check_xml(b'<?xml version="1.0" encoding="UTF-8"?><a/>', LIMITS).tag == "a"
