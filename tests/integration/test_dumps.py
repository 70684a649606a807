"""Dumps: each format read back by a standard parser and compared with the database."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from functools import partial
from pathlib import Path

import pytest
from lxml import etree

from service.domain.cursors import format_cursor
from service.domain.errors import UnknownCampaign, ValidationError
from service.services import Principal
from service.services import messages as m
from service.services.dumps import (FORMATS, advance_cursor, dump_chunks, dump_part,
                                    open_dump_file, dump_rows, operator_principal, plan_dump,
                                    record_cells, records, split_plan, write_dump)
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


def test_after_position_starts_the_dump_past_it_and_excludes_a_cursor_name(rt, admin, answered):
    first, _ = dump(rt, admin, answered, "jsonl")
    assert dump(rt, admin, answered, "jsonl", after=format_cursor(first.upto))[0].rows == 0
    with pytest.raises(ValidationError) as refused:
        plan_dump(rt, admin, answered, after=format_cursor(first.upto), cursor_name="nightly")
    assert (refused.value.message, refused.value.field) == (
        "Give a cursor name or an 'after' position, not both.", "after")


def test_erasure_blanks_the_person_and_keeps_everyone_else_whole(rt, admin, answered):
    call(rt, admin, "EraseContact", email="p1@example.com")
    plan, data = dump(rt, admin, answered, "csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    # the erased response is a change: it moves to the end of the cursor order
    assert [(r["email"], r["crm_id"], r["a.region"]) for r in rows] == [
        ("p0@example.com", "C0", "nord"), ("p2@example.com", "C2", "nord"), ("", "", "")]


def test_jsonl_is_compact_utf8_and_xml_is_utf8_in_the_dump_namespace(rt, admin, answered):
    _, jsonl = dump(rt, admin, answered, "jsonl")
    assert jsonl.startswith(b'{"response_id":1,"campaign_id":') and "✓".encode() in jsonl
    _, xml = dump(rt, admin, answered, "xml")
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<dump xmlns=\"urn:feedloop:dump:v1\"")
    assert "✓".encode() in xml
    ns = {"d": "urn:feedloop:dump:v1"}
    first = etree.fromstring(xml).find("d:response", ns)
    assert [(group.tag.split("}")[1], [(item.get("name"), item.text) for item in group])
            for group in first[-3:]] == [("params", [("ticket", "T-0")]),
                                         ("extra_params", [("src", "-mail")]),
                                         ("attributes", [("region", "nord")])]


def test_xml_drops_characters_xml_cannot_carry(rt, admin, answered):
    link = call(rt, admin, "GetTrackingUrl", campaign_id=answered, email="bell@example.com",
                params=[m.Param("ticket", "ding\x07dong")])
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "5")])
    _, xml = dump(rt, admin, answered, "xml")
    ns = {"d": "urn:feedloop:dump:v1"}
    last = etree.fromstring(xml).findall("d:response", ns)[-1]
    assert last.findtext("d:params/d:param", namespaces=ns) == "dingdong"


def test_operator_reads_any_campaign_as_its_owner(rt, admin, answered):
    principal = operator_principal(rt, answered)
    assert principal == Principal(admin.account_id, "operator", frozenset({"read"}))
    with pytest.raises(UnknownCampaign, match="No campaign 987654."):
        operator_principal(rt, 987654)


def test_only_listed_dump_files_are_served(rt, admin):
    assert open_dump_file(rt, admin, "campaign-1-20261102T020000Z.csv") is None


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xml"])
def test_rows_go_out_in_batches_with_a_progress_tick_per_batch(rt, admin, answered, fmt,
                                                               monkeypatch):
    monkeypatch.setattr("service.services.dumps._BATCH", 2)
    plan, whole = dump(rt, admin, answered, fmt)
    ticks = []
    chunks = list(dump_chunks(plan, dump_rows(rt, plan, fmt), fmt, progress=ticks.append,
                              chunk_size=64))
    assert b"".join(chunks) == whole and ticks == [2, 1]
    assert len(chunks) > 1 and all(len(chunk) >= 64 for chunk in chunks[:-1])
    write_dump(plan, dump_rows(rt, plan, fmt), io.BytesIO(), fmt, progress=ticks.append)
    assert ticks == [2, 1, 2, 1]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_dump_abandoned_midway_leaves_the_connection_usable(rt, admin, answered, fmt,
                                                              monkeypatch):
    # A download whose client goes away: on PostgreSQL the rows come through a COPY that
    # was not read to its end when the transaction ends.
    monkeypatch.setattr("service.services.dumps._BATCH", 1)
    plan, whole = dump(rt, admin, answered, fmt)
    chunks = dump_chunks(plan, dump_rows(rt, plan, fmt), fmt, chunk_size=1)
    assert whole.startswith(next(chunks))
    chunks.close()
    assert dump(rt, admin, answered, fmt) == (plan, whole)
    assert call(rt, admin, "GetCampaign", campaign_id=answered).campaign_id == answered


def test_a_failing_write_fails_the_dump_with_its_error(rt, admin, answered):
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            raise OSError(28, "No space left on device")

    plan = plan_dump(rt, admin, answered)
    with pytest.raises(OSError, match="No space left on device"):
        write_dump(plan, dump_rows(rt, plan, "xml"), Full(), "xml")


def test_gzip_dumps_are_reproducible_byte_for_byte(rt, admin, answered):
    _, first = dump(rt, admin, answered, "jsonl")
    plan = plan_dump(rt, admin, answered)
    out = io.BytesIO()
    write_dump(plan, records(rt, plan), out, "jsonl", compress=True)
    assert out.getvalue()[4:8] == b"\0\0\0\0"  # no timestamp in the gzip header
    assert gzip.decompress(out.getvalue()) == first


def test_an_unknown_format_is_refused(rt, admin, answered):
    plan = plan_dump(rt, admin, answered)
    with pytest.raises(ValidationError) as refused:
        write_dump(plan, records(rt, plan), io.BytesIO(), "xlsx")
    assert (refused.value.message, refused.value.field) == (
        "format must be one of csv, jsonl, xml.", "format")


@pytest.mark.parametrize("fmt", ["jsonl", "xml"])
def test_a_plan_without_column_names_gives_the_same_json_lines_and_xml(rt, admin, answered, fmt):
    named = plan_dump(rt, admin, answered)
    unnamed = plan_dump(rt, admin, answered, columns=False)
    assert (named.param_names, named.extra_names, named.attribute_names) == (
        ["ticket"], ["src"], ["region"])
    assert (unnamed.param_names, unnamed.extra_names, unnamed.attribute_names) == ([], [], [])
    assert (unnamed.after, unnamed.upto, unnamed.rows) == (named.after, named.upto, named.rows)
    made = []
    for plan in (named, unnamed):
        out = io.BytesIO()
        write_dump(plan, dump_rows(rt, plan, fmt), out, fmt)
        made.append(out.getvalue())
    assert made[0] == made[1] and b"ticket" in made[0] and b"region" in made[0]


def test_the_column_names_of_an_empty_range_are_none(rt, admin, answered):
    plan = plan_dump(rt, admin, answered)
    after = plan_dump(rt, admin, answered, after=format_cursor(plan.upto))
    assert after.rows == 0
    assert (after.param_names, after.extra_names, after.attribute_names) == ([], [], [])


@pytest.mark.parametrize("parts, rows", [(2, [1, 2]), (3, [1, 1, 1]), (4, [3])])
def test_a_plan_cut_into_parts_covers_its_range_once_in_order(rt, admin, answered, parts, rows):
    plan = plan_dump(rt, admin, answered)
    cut = split_plan(rt, plan, parts)
    assert [part.rows for part in cut] == rows    # four parts of three rows: not cut
    assert (cut[0].after, cut[-1].upto) == (plan.after, plan.upto)
    assert all(earlier.upto == later.after for earlier, later in zip(cut, cut[1:]))
    with rt.uow(read_only=True) as uow:
        assert [uow.responses.count_range(part.account_id, part.campaign_id, part.after,
                                          part.upto) for part in cut] == rows
    assert all((part.survey, part.param_names, part.attribute_names)
               == (plan.survey, plan.param_names, plan.attribute_names) for part in cut)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_parts_written_apart_make_the_file_one_writer_makes(rt, admin, answered, fmt, compress):
    plan = plan_dump(rt, admin, answered, columns=fmt == "csv")
    whole = io.BytesIO()
    expected = write_dump(plan, dump_rows(rt, plan, fmt), whole, fmt, compress)
    first, *later = split_plan(rt, plan, 3)
    bodies = []
    for part in later:
        body = io.BytesIO()
        rows = dump_part(rt, part, fmt, body)
        bodies.append((body.getvalue(), rows))   # still open: the part's writer leaves it so
    def part(data: bytes, rows: int, size: int):
        for start in range(0, len(data), 7):   # in pieces of any size
            yield data[start:start + 7]
        return rows

    parts = [partial(part, data, rows) for data, rows in bodies]
    progress = []
    out = io.BytesIO()
    result = write_dump(plan, dump_rows(rt, first, fmt), out, fmt, compress, progress.append,
                        parts)
    assert out.getvalue() == whole.getvalue()
    assert (result.rows, result.sha256, result.size) == (3, expected.sha256, expected.size)
    assert progress == [1, 1, 1]
