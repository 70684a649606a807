"""Dumps: each format read back by a standard parser and compared with the database."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
from lxml import etree

from service.services import messages as m
from service.services.dumps import (advance_cursor, dump_chunks, dump_rows, plan_dump,
                                    record_cells, records, write_dump)
from tests.conftest import call

XSD = etree.XMLSchema(etree.parse(str(Path(__file__).parents[2] / "wsdl" / "dump.xsd")))


@pytest.fixture
def answered(rt, admin):
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="fr", questions=[
        m.Question(key="nps", type="nps", text="?"),
        m.Question(key="topics", type="multi", text="?", choices=["prix", "délai", "accueil"]),
        m.Question(key="comment", type="text", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c").campaign_id
    answers = [("9", ["prix", "accueil"], "Très bien, merci ✓"), ("3", [], "=HYPERLINK(\"x\")"),
               ("7", ["délai"], "a, \"quoted\"\nmultiline")]
    for i, (score, topics, comment) in enumerate(answers):
        link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                    email=f"p{i}@example.com", crm_id=f"C{i}",
                    params=[m.Param("ticket", f"T-{i}")],
                    attributes=[m.Attribute("region", "nord")])
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", score), m.Answer("comment", comment)]
             + [m.Answer("topics", t) for t in topics], params=[m.Param("src", "-mail")])
    return campaign_id


def dump(rt, admin, campaign_id, fmt, compress=False, **where):
    plan = plan_dump(rt, admin, campaign_id, **where)
    out = io.BytesIO()
    result = write_dump(plan, dump_rows(rt, plan, fmt), out, fmt, compress)
    data = out.getvalue()
    assert hashlib.sha256(data).hexdigest() == result.sha256 and result.rows == plan.rows
    assert result.size == len(data)
    return plan, gzip.decompress(data) if compress else data


def test_csv_is_wide_rfc4180_and_neutralises_formulas(rt, admin, answered):
    plan, data = dump(rt, admin, answered, "csv")
    assert data.count(b"\r\n") >= 4
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert list(rows[0])[:13] == ["response_id", "cursor", "change", "submitted_at",
                                  "updated_at", "invitation_id", "email", "crm_id", "nps_score",
                                  "nps_category", "q.nps", "q.topics", "q.comment"]
    assert list(rows[0])[13:] == ["p.ticket", "x.src", "a.region"]
    assert [(r["email"], r["q.nps"], r["nps_category"], r["q.topics"]) for r in rows] == [
        ("p0@example.com", "9", "promoter", "prix;accueil"),
        ("p1@example.com", "3", "detractor", ""), ("p2@example.com", "7", "passive", "délai")]
    assert rows[0]["q.comment"] == "Très bien, merci ✓"
    assert rows[1]["q.comment"] == "'=HYPERLINK(\"x\")" and rows[0]["x.src"] == "'-mail"
    assert rows[2]["q.comment"] == "a, \"quoted\"\nmultiline"
    assert [r["p.ticket"] for r in rows] == ["T-0", "T-1", "T-2"]


def test_jsonl_round_trips_every_record(rt, admin, answered):
    plan, data = dump(rt, admin, answered, "jsonl", compress=True)
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert lines == list(records(rt, plan))
    assert lines[0]["answers"] == {"nps": 9, "topics": ["prix", "accueil"],
                                   "comment": "Très bien, merci ✓"}
    assert lines[0]["params"] == {"ticket": "T-0"} and lines[0]["extra_params"] == {"src": "-mail"}
    # one timestamp format everywhere a response is text: UTC to the second, with a Z
    assert lines[0]["submitted_at"] == lines[0]["updated_at"] == "2026-11-02T09:00:00Z"


def test_xml_validates_against_the_published_xsd(rt, admin, answered):
    plan, data = dump(rt, admin, answered, "xml")
    document = etree.fromstring(data)
    XSD.assertValid(document)
    ns = {"d": "urn:feedloop:dump:v1"}
    responses = document.findall("d:response", ns)
    assert [r.findtext("d:email", namespaces=ns) for r in responses] == [
        f"p{i}@example.com" for i in range(3)]
    assert [a.text for a in responses[0].findall("d:answers/d:answer[@key='topics']", ns)] == [
        "prix", "accueil"]
    assert document.get("cursor_to") == str(plan.upto)


def test_named_cursor_returns_each_response_once_and_changes_again(rt, admin, answered):
    first, _ = dump(rt, admin, answered, "jsonl", cursor_name="crm-nightly")
    assert first.rows == 3
    advance_cursor(rt, first, "crm-nightly")
    again, _ = dump(rt, admin, answered, "jsonl", cursor_name="crm-nightly")
    assert again.rows == 0
    call(rt, admin, "EraseContact", email="p1@example.com")
    changed, data = dump(rt, admin, answered, "jsonl", cursor_name="crm-nightly")
    [record] = [json.loads(line) for line in data.decode().splitlines()]
    assert record["change"] == "erased" and record["email"] is None
    assert record["answers"] == {"nps": 3} and record["attributes"] == {}


def test_unadvanced_cursor_repeats_the_same_range(rt, admin, answered):
    first, _ = dump(rt, admin, answered, "csv", cursor_name="nightly")
    repeat, _ = dump(rt, admin, answered, "csv", cursor_name="nightly")
    assert (repeat.after, repeat.upto, repeat.rows) == (first.after, first.upto, 3)


@pytest.mark.parametrize("odd_name", [None, "r\u00e9gion \"x\""])
def test_csv_cells_computed_by_the_database_equal_those_of_the_records(rt, admin, answered,
                                                                       odd_name):
    if odd_name is not None:  # a name SQLite's JSON paths cannot address: built from records
        link = call(rt, admin, "GetTrackingUrl", campaign_id=answered, email="p9@example.com",
                    attributes=[m.Attribute(odd_name, "=1+1")],
                    params=[m.Param("ticket", "+T")])
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", "10"), m.Answer("topics", "prix")])
    call(rt, admin, "EraseContact", email="p1@example.com")
    plan = plan_dump(rt, admin, answered)
    from_database = b"".join(dump_chunks(plan, dump_rows(rt, plan, "csv"), "csv"))
    from_records = b"".join(dump_chunks(
        plan, (record_cells(plan, r) for r in records(rt, plan)), "csv"))
    assert from_database == from_records
    rows = list(csv.DictReader(io.StringIO(from_database.decode(), newline="")))
    assert len(rows) == plan.rows == (4 if odd_name else 3)
    [erased] = [r for r in rows if r["change"] == "erased"]
    assert erased["email"] == erased["crm_id"] == erased["a.region"] == ""
    if odd_name:
        [odd] = [r for r in rows if r["email"] == "p9@example.com"]
        assert odd[f"a.{odd_name}"] == "'=1+1" and odd["p.ticket"] == "'+T"
        assert odd["q.topics"] == "prix" and odd["nps_category"] == "promoter"
