"""The JSON Lines and XML writers give the bytes of their former, slower forms.

The oracles below are those forms: ``json.dumps`` per record, and an lxml element tree
per response serialised by ``etree.xmlfile``. Any record, with any text, must come out
the same, so that files and their SHA-256 do not change with the speed of the writer.
"""
from __future__ import annotations

import io
import json
import re

from hypothesis import given, strategies as st
from lxml import etree

from service.domain.surveys import Question, Survey
from service.services.dumps import DUMP_NS, FIXED_COLUMNS, DumpPlan, dump_chunks

PLAN = DumpPlan(account_id=1, campaign_id=7, survey=Survey(
    "t", "en", (Question(key="nps", type="nps", text="?"),)), after=40, upto=99, rows=0)
NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def json_lines(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for r in records)


def lxml_dump(records: list[dict]) -> bytes:
    def text(value) -> str:
        return NOT_XML.sub("", str(value))

    out = io.BytesIO()
    q = f"{{{DUMP_NS}}}"
    with etree.xmlfile(out, encoding="utf-8") as xml:
        xml.write_declaration()
        with xml.element(q + "dump", nsmap={None: DUMP_NS}, campaign_id=str(PLAN.campaign_id),
                         cursor_from=str(PLAN.after), cursor_to=str(PLAN.upto)):
            for record in records:
                response = etree.Element(q + "response", id=str(record["response_id"]),
                                         cursor=record["cursor"], change=record["change"])
                for name in FIXED_COLUMNS[3:]:
                    if record[name] is not None:
                        etree.SubElement(response, q + name).text = text(record[name])
                answers = etree.SubElement(response, q + "answers")
                for key, value in record["answers"].items():
                    for item in value if isinstance(value, list) else [value]:
                        etree.SubElement(answers, q + "answer", key=key).text = text(item)
                for group, tag in (("params", "param"), ("extra_params", "param"),
                                   ("attributes", "attribute")):
                    holder = etree.SubElement(response, q + group)
                    for name, value in record[group].items():
                        etree.SubElement(holder, q + tag, name=text(name)).text = text(value)
                xml.write(response)
    return out.getvalue()


def written(records: list[dict], fmt: str) -> bytes:
    return b"".join(dump_chunks(PLAN, iter(records), fmt))


def record_of(texts: st.SearchStrategy[str]) -> st.SearchStrategy[dict]:
    """Records as the dump gives them, with any ``texts`` where people type."""
    maybe = st.none() | texts
    value = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts
    names = st.dictionaries(texts, texts, max_size=3)
    return st.fixed_dictionaries({
        "response_id": st.integers(1, 2**63), "campaign_id": st.just(7),
        "invitation_id": st.none() | st.integers(1, 2**63),
        "change": st.sampled_from(["new", "changed", "erased"]),
        "submitted_at": st.just("2026-11-02T09:00:00Z"),
        "updated_at": st.just("2026-11-03T10:30:00Z"), "email": maybe, "crm_id": maybe,
        "nps_score": st.none() | st.integers(0, 10),
        "nps_category": st.none() | st.sampled_from(["promoter", "passive", "detractor"]),
        "answers": st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                                   value | st.lists(texts, max_size=3), max_size=4),
        "params": names, "extra_params": names, "cursor": st.integers(1, 99).map(str),
        "attributes": names})


#: Every character, with the markup ones and those XML cannot carry often.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()) | st.sampled_from(
    "&<>\"'\t\n\r\x00\x07\x1f\ud800\ufffe\uffff]"), max_size=12)
#: What UTF-8 can encode: a lone surrogate fails both forms of JSON Lines alike.
ENCODABLE_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from("\"\\\t\n\r\x00\x1f"),
                         max_size=12)


@given(st.lists(record_of(ANY_TEXT), max_size=4))
def test_xml_is_byte_for_byte_what_an_lxml_tree_per_response_gave(records):
    assert written(records, "xml") == lxml_dump(records)


@given(st.lists(record_of(ENCODABLE_TEXT), max_size=4))
def test_json_lines_are_byte_for_byte_what_json_dumps_per_record_gave(records):
    assert written(records, "jsonl") == json_lines(records)


def test_an_empty_dump_is_the_declaration_and_an_empty_root():
    assert written([], "xml") == lxml_dump([]) == (
        b"<?xml version='1.0' encoding='utf-8'?>\n<dump xmlns=\"urn:feedloop:dump:v1\" "
        b"campaign_id=\"7\" cursor_from=\"40\" cursor_to=\"99\"></dump>")
    assert written([], "jsonl") == b""
