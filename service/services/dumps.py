"""Incremental dumps for batch consumers: one engine behind the CLI and HTTP downloads.

A dump covers the responses with export positions in (after, upto], where
``upto`` is the last position committed when the dump starts: positions are
committed in order (see ResponseRepository.assign_position), so nothing below
``upto`` can still appear, and nothing above it is half-included. A named
cursor moves to ``upto`` only after its dump was written completely.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from itertools import islice
from datetime import datetime
from typing import BinaryIO, Callable, Generator, Iterable, Iterator, Sequence

from service.domain.cursors import format_cursor, parse_cursor
from service.domain.distribution import next_dump_time
from service.domain.errors import UnknownCampaign, ValidationError
from service.domain.surveys import Survey
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.records import in_survey_order, make_record, timestamp
from service.services.runtime import Runtime
from service.services.surveys import SCHEDULED_LEASE, claim_scheduled, get_campaign_of

FORMATS = ("csv", "jsonl", "xml")
DUMP_NS = "urn:feedloop:dump:v1"
FIXED_COLUMNS = ["response_id", "cursor", "change", "submitted_at", "updated_at",
                 "invitation_id", "email", "crm_id", "nps_score", "nps_category"]
#: A text cell starting with one of these may run as a formula in a spreadsheet (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
def spreadsheet_safe(value: object) -> object:
    """A text cell that cannot run as a formula when the CSV is opened in a spreadsheet."""
    if value.__class__ is str and value.startswith(_FORMULA_START):
        return "'" + value
    return value


#: Question types whose answers are numbers: their cells need no formula guard.
_NUMERIC_TYPES = ("nps", "rating")
#: Rows written at once (and per progress tick), in every format.
_BATCH = 1000


@dataclass
class DumpPlan:
    account_id: int
    campaign_id: int
    survey: Survey
    after: int
    upto: int
    rows: int
    param_names: list[str] = field(default_factory=list)
    extra_names: list[str] = field(default_factory=list)
    attribute_names: list[str] = field(default_factory=list)

    @property
    def text_cells(self) -> list[int]:
        """Indexes of the CSV cells that hold text people typed (the formula guard's)."""
        fixed = [FIXED_COLUMNS.index("email"), FIXED_COLUMNS.index("crm_id")]
        answers = [len(FIXED_COLUMNS) + i for i, q in enumerate(self.survey.questions)
                   if q.type not in _NUMERIC_TYPES]
        rest = len(FIXED_COLUMNS) + len(self.survey.questions)
        return fixed + answers + list(range(rest, len(self.columns)))

    @property
    def columns(self) -> list[str]:
        """CSV columns: fixed ones, a question each in survey order, then p./x./a. columns."""
        return (FIXED_COLUMNS + [f"q.{q.key}" for q in self.survey.questions]
                + [f"p.{n}" for n in self.param_names] + [f"x.{n}" for n in self.extra_names]
                + [f"a.{n}" for n in self.attribute_names])


def plan_dump(rt: Runtime, principal: Principal, campaign_id: int, after: str | None = None,
              cursor_name: str | None = None, columns: bool = True) -> DumpPlan:
    """What a dump will contain: its cursor range, row count and, unless ``columns`` is
    False, the names of its parameter, extra parameter and attribute columns (what a
    CSV dump needs before its first row; JSON Lines and XML name each value where it
    occurs, and are spared the scan)."""
    if cursor_name is not None and after is not None:
        raise ValidationError("Give a cursor name or an 'after' position, not both.",
                              field="after")
    if cursor_name:
        # From the primary: the dump ends by moving this cursor, and a lagging replica's
        # older position would repeat rows already dumped.
        with rt.uow(read_only=True) as uow:
            start = uow.cursors.get(principal.account_id, campaign_id, cursor_name)
    else:
        start = parse_cursor(after)
    # The rest from the replica, if any: its last position bounds the rows it can give.
    with rt.uow(replica=True) as uow:
        campaign = get_campaign_of(uow, principal, campaign_id)
        # Columns for the questions of every version: they stay when a question is removed.
        survey = uow.surveys.for_reports(principal.account_id, campaign.survey_id)
        upto = uow.responses.last_position(principal.account_id, campaign.id)
        upto = max(upto, start)
        plan = DumpPlan(principal.account_id, campaign.id, survey, start, upto,
                        uow.responses.count_range(principal.account_id, campaign.id, start, upto))
        if columns and plan.rows:
            plan.param_names, plan.extra_names, plan.attribute_names = (
                uow.responses.dump_key_names(principal.account_id, campaign.id, start, upto,
                                             kind)
                for kind in ("params", "extra_params", "attributes"))
    return plan


def split_plan(rt: Runtime, plan: DumpPlan, parts: int) -> list[DumpPlan]:
    """The plan cut into ``parts`` consecutive ranges of about as many rows each, in
    position order (their dumps, one after the other, are the plan's): what several
    processes can write at once. Each part keeps the plan's survey and column names.

    Equal shares measured best, though the first part's process also passes the others'
    bytes on: shares of 40, 45 and 55 % for the first of two were slower, by 0.4-1.3 s
    for 1,000,000 rows, than 50 %."""
    if parts < 2 or plan.rows < parts:
        return [plan]
    offsets = [plan.rows * part // parts for part in range(parts + 1)]
    with rt.uow(replica=True) as uow:
        cuts = uow.responses.positions_at(plan.account_id, plan.campaign_id, plan.after,
                                          plan.upto, offsets[1:-1])
    edges = [plan.after, *cuts, plan.upto]
    return [replace(plan, after=after, upto=upto, rows=offsets[i + 1] - offsets[i])
            for i, (after, upto) in enumerate(zip(edges, edges[1:]))]


def dump_rows(rt: Runtime, plan: DumpPlan, fmt: str) -> Iterator:
    """What the writer of ``fmt`` takes: CSV cells, else response records."""
    return _csv_cells(rt, plan) if fmt == "csv" else records(rt, plan)


def _csv_cells(rt: Runtime, plan: DumpPlan) -> Iterator[Sequence]:
    """The CSV cells of the plan's responses: computed by the database (json_extract,
    ->>), so no row is decoded here; built from the records when a name cannot be
    addressed in SQL. Both give the same cells (tests/integration/test_dumps.py)."""
    with rt.uow(replica=True) as uow:
        table = uow.responses.dump_table(
            plan.account_id, plan.campaign_id, plan.after, plan.upto,
            [(q.key, q.type == "multi") for q in plan.survey.questions],
            plan.param_names, plan.extra_names, plan.attribute_names)
        if table is not None:
            yield from table
            return
    for record in records(rt, plan):
        yield record_cells(plan, record)


def record_cells(plan: DumpPlan, record: dict) -> list:
    """The CSV cells of one response record, as the database computes them."""
    answers, params, extras = record["answers"], record["params"], record["extra_params"]
    return ([record[c] for c in FIXED_COLUMNS]
            + [";".join(map(str, a)) if isinstance(a := answers.get(q.key), list) else a
               for q in plan.survey.questions]
            + [params.get(n) for n in plan.param_names]
            + [extras.get(n) for n in plan.extra_names]
            + [record["attributes"].get(n) for n in plan.attribute_names])


def records(rt: Runtime, plan: DumpPlan) -> Iterator[dict]:
    """The plan's responses as plain records, streamed (memory does not grow with rows)."""
    # The documents come from the database as one JSON array: raw_decode spares the
    # checks json.loads makes around it (a fifth of the decoding time).
    decode = _JSON_DECODER.raw_decode
    keys = [q.key for q in plan.survey.questions]

    @lru_cache(maxsize=256)
    def in_order(found: tuple[str, ...]) -> bool:
        """Whether answers with these keys are in survey order already: those of the
        survey's current version are, and are then given as they were decoded."""
        return found == tuple(in_survey_order(dict.fromkeys(found), keys))

    with rt.uow(replica=True) as uow:
        for (response_id, position, change, submitted_at, updated_at, invitation_id, email,
             crm_id, nps_score, category, documents) in uow.responses.dump_records(
                plan.account_id, plan.campaign_id, plan.after, plan.upto):
            (answers, params, extras, attributes), _ = decode(documents)
            if not in_order(tuple(answers)):
                answers = in_survey_order(answers, keys)
            record = make_record(response_id, plan.campaign_id, invitation_id, change,
                                 submitted_at, updated_at, email, crm_id, nps_score, category,
                                 answers, params, extras)
            record["cursor"] = format_cursor(position)
            record["attributes"] = attributes or {}
            yield record


def advance_cursor(rt: Runtime, plan: DumpPlan, cursor_name: str) -> None:
    """Move a named cursor to the end of a dump that was written completely."""
    with rt.uow() as uow:
        uow.cursors.set(plan.account_id, plan.campaign_id, cursor_name, plan.upto, rt.clock())
        uow.commit()


def operator_principal(rt: Runtime, campaign_id: int) -> Principal:
    """The owner's read principal of a campaign, for the operator's command line."""
    with rt.uow(read_only=True) as uow:
        account_id = uow.directory.account_of_campaign_id(campaign_id)
    if account_id is None:
        raise UnknownCampaign(f"No campaign {campaign_id}.")
    return Principal(account_id, "operator", frozenset({"read"}))


# --- formats ---------------------------------------------------------------------------

@dataclass
class DumpResult:
    """Filled in as a dump is produced: rows written, the SHA-256 and size of the bytes."""

    rows: int = 0
    sha256: str = ""
    size: int = 0


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValidationError(f"format must be one of {', '.join(FORMATS)}.", field="format")


#: A part of a dump written elsewhere: called with a chunk size when its turn comes, a
#: generator of its bytes (the body in its format, uncompressed) as they are written,
#: which returns how many rows they hold.
Part = Callable[[int], Generator[bytes, None, int]]


def dump_chunks(plan: DumpPlan, rows: Iterator[dict], fmt: str, compress: bool = False,
                result: DumpResult | None = None, progress=None,
                chunk_size: int = 256 * 1024, parts: Iterable[Part] = ()) -> Iterator[bytes]:
    """The dump as a stream of byte chunks, for files and HTTP responses alike: the head
    of ``plan``'s file, the body of ``rows``, then that of each of ``parts`` in turn (the
    plan's later ranges, see split_plan), then the file's end. ``result`` counts the rows
    (write_dump hashes the bytes)."""
    _check_format(fmt)
    result = result if result is not None else DumpResult()
    buffer = io.BytesIO()
    sink = gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) if compress else buffer
    out = io.BufferedWriter(sink, buffer_size=chunk_size)

    def taken() -> bytes:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return data

    _HEADS[fmt](plan, out)
    for written in _BODIES[fmt](plan, rows, out):
        result.rows += written
        if progress is not None:
            progress(written)
        if buffer.tell() >= chunk_size:
            yield taken()
    for part in parts:
        if not compress:   # the part's bytes are the file's: passed on as they come
            out.flush()
            if buffer.tell():
                yield taken()
        pieces = part(chunk_size)
        while True:
            try:
                data = next(pieces)
            except StopIteration as finished:
                written = finished.value
                break
            if not compress:
                yield data
                continue
            out.write(data)
            if buffer.tell() >= chunk_size:
                yield taken()
        result.rows += written
        if progress is not None:
            progress(written)
    out.write(_TAILS[fmt])
    out.flush()
    if compress:
        sink.close()
    if buffer.tell():
        yield buffer.getvalue()


def write_dump(plan: DumpPlan, rows: Iterator[dict], out: BinaryIO, fmt: str,
               compress: bool = False, progress=None, parts: Iterable[Part] = ()) -> DumpResult:
    """Write the dump to ``out``: what was written (rows, SHA-256, size).

    Each chunk is hashed and written by a second thread while the next one is made: both
    release the GIL, and the disk takes as long as the formatting for a large XML dump (a
    gigabyte at 1,000,000 rows). At most one chunk is in flight.
    """
    result = DumpResult()
    sha256 = hashlib.sha256()

    def put(chunk: bytes) -> None:
        sha256.update(chunk)
        result.size += len(chunk)
        out.write(chunk)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dump-writer") as writer:
        written = None
        for chunk in dump_chunks(plan, rows, fmt, compress, result, progress, parts=parts):
            if written is not None:
                written.result()
            written = writer.submit(put, chunk)
        if written is not None:
            written.result()
    result.sha256 = sha256.hexdigest()
    return result


def dump_part(rt: Runtime, plan: DumpPlan, fmt: str, out: BinaryIO) -> int:
    """Write the body of ``plan``'s dump to ``out`` (no head, no end, uncompressed: a part
    that dump_chunks places in a whole file); the rows written."""
    _check_format(fmt)
    buffered = io.BufferedWriter(out, buffer_size=256 * 1024)
    rows = sum(_BODIES[fmt](plan, dump_rows(rt, plan, fmt), buffered))
    buffered.detach()   # flushed, and ``out`` left open for its owner
    return rows


def dump_manifest(name: str, plan: DumpPlan, fmt: str, compress: bool, result: DumpResult,
                  created_at: datetime, cursor_name: str | None = None) -> bytes:
    """The manifest of a complete dump file ``name``, written beside it as NAME.manifest.json
    (by the command line and the scheduled dumps alike)."""
    manifest = {"file": name, "format": fmt, "gzip": compress, "campaign_id": plan.campaign_id,
                "cursor_name": cursor_name, "cursor_from": format_cursor(plan.after),
                "cursor_to": format_cursor(plan.upto), "rows": result.rows,
                "size": result.size, "sha256": result.sha256,
                "created_at": timestamp(created_at)}
    return json.dumps(manifest, indent=2).encode() + b"\n"


def _batches(rows: Iterator) -> Iterator[list]:
    return iter(lambda: list(islice(rows, _BATCH)), [])


def _csv_head(plan: DumpPlan, out: BinaryIO) -> None:
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerow(plan.columns)
    out.write(text.getvalue().encode())


def _csv(plan: DumpPlan, rows: Iterator[Sequence], out: BinaryIO) -> Iterator[int]:
    # A batch is written to a string and encoded at once: csv.writer writes row by row.
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")  # None is written as an empty cell

    def flush() -> None:
        out.write(text.getvalue().encode())
        text.seek(0)
        text.truncate()

    guarded = plan.text_cells
    for batch in _batches(rows):
        writer.writerows(_guarded(batch, guarded))
        flush()
        yield len(batch)


def _guarded(batch: list[Sequence], guarded: list[int]) -> list[Sequence]:
    """The rows with their text cells made spreadsheet-safe; a row is copied only when one
    of its cells changes (spreadsheet_safe's test is inlined: a call per cell cost a
    sixth of a dump)."""
    safe = []
    for row in batch:
        for index in guarded:
            value = row[index]
            if value.__class__ is str and value.startswith(_FORMULA_START):
                row = list(row)
                row[index] = spreadsheet_safe(value)
        safe.append(row)
    return safe


#: The form of ``json.dumps(record, ensure_ascii=False, separators=(",", ":"))``, built once.
_JSON_DECODER = json.JSONDecoder()
#: No check for circular references: a record is made of decoded JSON, which has none.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _jsonl(plan: DumpPlan, rows: Iterator[dict], out: BinaryIO) -> Iterator[int]:
    encode = _JSON.encode
    for batch in _batches(rows):
        out.write(("\n".join(map(encode, batch)) + "\n").encode())
        yield len(batch)


# The XML is written from string templates, in the bytes lxml gave when it built an element
# tree per response (a tenth of the speed): each response declares the dump namespace as
# its own prefix ns0, a text is escaped as libxml2 escapes it (&, <, >, CR), an attribute
# value too (&, <, >, ", TAB, LF, CR), an empty group is one empty-element tag. Characters
# XML 1.0 cannot carry are dropped (tests/integration/test_dumps.py holds both to lxml).
_NOT_XML_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_NOT_XML = re.compile(f"[{_NOT_XML_CHARS}]")
_TEXT_SPECIAL = re.compile(f"[&<>\r{_NOT_XML_CHARS}]")
_ATTRIBUTE_SPECIAL = re.compile(f"[&<>\"\t\n\r{_NOT_XML_CHARS}]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                    "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})


def _xml_text(value: object) -> str:
    """A value as XML text: escaped, and without the characters XML 1.0 cannot carry."""
    text = value if value.__class__ is str else str(value)
    if _TEXT_SPECIAL.search(text) is None:
        return text
    return _NOT_XML.sub("", text).translate(_TEXT_ESCAPES)


def _xml_attribute(value: object) -> str:
    """A value as an XML attribute value (between double quotes)."""
    text = value if value.__class__ is str else str(value)
    if _ATTRIBUTE_SPECIAL.search(text) is None:
        return text
    return _NOT_XML.sub("", text).translate(_ATTRIBUTE_ESCAPES)


#: The response's elements from the fixed columns: start tag, end tag, and whether the text
#: needs escaping (the moments and the NPS category are this dump's own text: digits, "-",
#: ":", "T", "Z" and three words).
_FIXED_ELEMENTS = [(name, f"<ns0:{name}>", f"</ns0:{name}>",
                    name not in ("submitted_at", "updated_at", "nps_category"))
                   for name in FIXED_COLUMNS[3:]]


class _StartTags(dict):
    """The start tags of answers (by question key) or of parameters or attributes (by
    name), built once per dump for the names its plan lists."""

    def __init__(self, tag: str, attribute: str, names: list[str]) -> None:
        super().__init__()
        self.tag, self.attribute = tag, attribute
        self.layouts: dict[tuple[str, ...], str] = {}   # see _answers_xml
        for name in names:
            self.__missing__(name)

    def __missing__(self, name: str) -> str:
        # A name the plan does not list (a plan made without its column names, or a
        # record made elsewhere): built once, then kept like the listed ones.
        tag = self[name] = f'<ns0:{self.tag} {self.attribute}="{_xml_attribute(name)}">'
        return tag


def _xml_head(plan: DumpPlan, out: BinaryIO) -> None:
    out.write(f"<?xml version='1.0' encoding='utf-8'?>\n<dump xmlns=\"{DUMP_NS}\" "
              f'campaign_id="{plan.campaign_id}" cursor_from="{format_cursor(plan.after)}" '
              f'cursor_to="{format_cursor(plan.upto)}">'.encode())


def _xml(plan: DumpPlan, rows: Iterator[dict], out: BinaryIO) -> Iterator[int]:
    params = _StartTags("param", "name", plan.param_names + plan.extra_names)
    response = partial(_response_xml, answer_tags=_StartTags(
        "answer", "key", [q.key for q in plan.survey.questions]), groups=[
        (group, f"<ns0:{group}>", f"</ns0:{group}>", f"<ns0:{group}/>", tags, f"</ns0:{tag}>")
        for group, tag, tags in (
            ("params", "param", params), ("extra_params", "param", params),
            ("attributes", "attribute",
             _StartTags("attribute", "name", plan.attribute_names)))])
    for batch in _batches(rows):
        out.write("".join(map(response, batch)).encode())
        yield len(batch)


#: Answer layouts kept per dump, at most: a survey's answers come in few sets of keys.
_LAYOUTS = 256


def _answers_xml(answers: dict, tags: _StartTags) -> str:
    """The answers element of a response. Where every answer is a number or a text, the
    values go into a layout kept for the keys in their order (one formatting a response,
    where an element each cost a fifth of an XML dump); otherwise element by element."""
    values = []
    for value in answers.values():
        kind = value.__class__
        if kind is int or kind is str and _TEXT_SPECIAL.search(value) is None:
            values.append(value)
        elif kind is str:
            values.append(_xml_text(value))
        else:   # a multiple choice, a number with a point, true or false, nothing
            return _answers_xml_by_element(answers, tags)
    if not values:
        return "<ns0:answers/>"
    keys = tuple(answers)
    layout = tags.layouts.get(keys)
    if layout is None:
        layout = "<ns0:answers>" + "".join(
            tags[key].replace("%", "%%") + "%s</ns0:answer>" for key in keys) + "</ns0:answers>"
        if len(tags.layouts) < _LAYOUTS:
            tags.layouts[keys] = layout
    return layout % tuple(values)


def _answers_xml_by_element(answers: dict, tags: _StartTags) -> str:
    parts = []
    for key, value in answers.items():
        start = tags[key]
        if value.__class__ is int:
            parts.append(f"{start}{value}</ns0:answer>")
        else:
            for item in value if isinstance(value, list) else (value,):
                parts.append(f"{start}{_xml_text(item)}</ns0:answer>")
    return f"<ns0:answers>{''.join(parts)}</ns0:answers>" if parts else "<ns0:answers/>"


def _response_xml(record: dict, answer_tags: _StartTags, groups: list[tuple]) -> str:
    # The response id and the cursor are digits (the id as an int, the cursor this dump's).
    parts = [f'<ns0:response xmlns:ns0="{DUMP_NS}" id="{record["response_id"]}" '
             f'cursor="{record["cursor"]}" change="{_xml_attribute(record["change"])}">']
    add = parts.append
    # Most values are numbers, which need no escaping: tested here, without a call.
    for name, start, end, escaped in _FIXED_ELEMENTS:
        if (value := record[name]) is not None:
            add(f"{start}{_xml_text(value) if escaped and value.__class__ is not int else value}"
                f"{end}")
    add(_answers_xml(record["answers"], answer_tags))
    for group, start, end, empty, tags, item_end in groups:
        if items := record[group]:
            add(start)
            for name, value in items.items():
                add(f"{tags[name]}{_xml_text(value)}{item_end}")
            add(end)
        else:
            add(empty)
    add("</ns0:response>")
    return "".join(parts)


#: Per format: what a file starts with, its body's writer (a count per batch), its end.
_HEADS = {"csv": _csv_head, "jsonl": lambda plan, out: None, "xml": _xml_head}
_BODIES = {"csv": _csv, "jsonl": _jsonl, "xml": _xml}
_TAILS = {"csv": b"", "jsonl": b"", "xml": b"</dump>"}


# --- scheduled dumps ------------------------------------------------------------------

SCHEDULE_CURSOR = "scheduled"


def run_scheduled_dumps(rt: Runtime) -> int:
    """Write every due scheduled dump into the dump store; the number of files written.

    Several workers may run: each dump is claimed first by moving its due time a
    lease ahead, which one worker only can do. The file and its manifest are written
    (atomically) before the database records them and moves the schedule's cursor,
    in one transaction that holds only while the claim is still this worker's: a
    crash in between leaves at worst an unlisted file, and once the lease is over
    another worker repeats the range.
    """
    store = rt.dump_store
    now = rt.clock()
    lease = now + SCHEDULED_LEASE
    with rt.uow(read_only=True) as uow:
        due = uow.campaigns.due_dumps(now)
    written = 0
    for campaign in due:
        if not claim_scheduled(rt, campaign, "next_dump_at", campaign.next_dump_at, lease):
            continue
        account_id = campaign.account_id
        principal = Principal(account_id, "worker", frozenset({"read"}))
        plan = plan_dump(rt, principal, campaign.id, cursor_name=SCHEDULE_CURSOR,
                         columns=campaign.dump_format == "csv")
        name = (f"campaign-{campaign.id}-{now:%Y%m%dT%H%M%SZ}.{campaign.dump_format}"
                + (".gz" if campaign.dump_gzip else ""))
        with store.new_file(account_id, name) as handle:
            result = write_dump(plan, dump_rows(rt, plan, campaign.dump_format), handle, campaign.dump_format,
                                campaign.dump_gzip)
        with store.new_file(account_id, name + ".manifest.json") as handle:
            handle.write(dump_manifest(name, plan, campaign.dump_format, campaign.dump_gzip,
                                       result, now, SCHEDULE_CURSOR))
        with rt.uow() as uow:
            if not uow.campaigns.claim(campaign, "next_dump_at", lease, next_dump_time(
                    campaign.dump_every, campaign.dump_at, now)):
                continue
            uow.dump_files.add(account_id, campaign_id=campaign.id, name=name,
                               format=campaign.dump_format, gzip=campaign.dump_gzip,
                               cursor_from=plan.after, cursor_to=plan.upto, rows=result.rows,
                               size=result.size, sha256=result.sha256, created_at=now)
            uow.cursors.set(account_id, campaign.id, SCHEDULE_CURSOR, plan.upto, now)
            uow.commit()
        written += 1
    return written


@operation("ListDumps", scope="read", audited=False, errors=(UnknownCampaign,))
def list_dumps(rt: Runtime, principal: Principal, request: m.ListDumpsRequest) -> m.ListDumpsResult:
    """Scheduled dump files, newest first: name, cursor range, rows, SHA-256, download URL."""
    with rt.uow(read_only=True) as uow:
        if request.campaign_id is not None:
            get_campaign_of(uow, principal, request.campaign_id)
        rows = uow.dump_files.list(principal.account_id, request.campaign_id,
                                   request.limit or 100)
    return m.ListDumpsResult(dumps=[m.DumpFile(
        name=r.name, campaign_id=r.campaign_id, format=r.format, gzip=r.gzip,
        cursor_from=format_cursor(r.cursor_from), cursor_to=format_cursor(r.cursor_to),
        rows=r.rows, size=r.size, sha256=r.sha256, created_at=r.created_at,
        url=rt.dump_url(r.name), manifest_url=rt.dump_url(r.name + ".manifest.json"))
        for r in rows])


def open_dump_file(rt: Runtime, principal: Principal, name: str):
    """The stored file (or its manifest) of one of the caller's dumps, opened (a StoredFile:
    its stream and size), or None."""
    listed = name.removesuffix(".manifest.json")
    with rt.uow(read_only=True) as uow:
        row = uow.dump_files.get(principal.account_id, listed)
    return rt.dump_store.open(principal.account_id, name) if row else None
