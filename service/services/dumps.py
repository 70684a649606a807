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
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Iterator

from lxml import etree

from service.domain.cursors import format_cursor, parse_cursor
from service.domain.errors import UnknownCampaign, ValidationError
from service.domain.surveys import Survey, nps_category
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.runtime import Runtime
from service.services.surveys import get_campaign_of

FORMATS = ("csv", "jsonl", "xml")
DUMP_NS = "urn:feedloop:dump:v1"
FIXED_COLUMNS = ["response_id", "cursor", "change", "submitted_at", "updated_at",
                 "invitation_id", "email", "crm_id", "nps_score", "nps_category"]
#: A text cell starting with one of these may run as a formula in a spreadsheet (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
    def columns(self) -> list[str]:
        """CSV columns: fixed ones, a question each in survey order, then p./x./a. columns."""
        return (FIXED_COLUMNS + [f"q.{q.key}" for q in self.survey.questions]
                + [f"p.{n}" for n in self.param_names] + [f"x.{n}" for n in self.extra_names]
                + [f"a.{n}" for n in self.attribute_names])


def plan_dump(rt: Runtime, principal: Principal, campaign_id: int, after: str | None = None,
              cursor_name: str | None = None) -> DumpPlan:
    """What a dump will contain: its cursor range, row count and columns."""
    if cursor_name is not None and after is not None:
        raise ValidationError("Give a cursor name or an 'after' position, not both.",
                              field="after")
    with rt.uow(read_only=True) as uow:
        campaign = get_campaign_of(uow, principal, campaign_id)
        survey, _ = uow.surveys.get(principal.account_id, campaign.survey_id)
        start = (uow.cursors.get(principal.account_id, campaign.id, cursor_name)
                 if cursor_name else parse_cursor(after))
        upto = uow.responses.last_position(principal.account_id, campaign.id)
        upto = max(upto, start)
        plan = DumpPlan(principal.account_id, campaign.id, survey, start, upto,
                        uow.responses.count_range(principal.account_id, campaign.id, start, upto))
        names: tuple[dict, dict, dict] = ({}, {}, {})
        for row in uow.responses.dump_rows(principal.account_id, campaign.id, start, upto,
                                           keys_only=True):
            for seen, values in zip(names, (row.params, row.extra_params, row.attributes)):
                seen.update(dict.fromkeys(values or {}))
    plan.param_names, plan.extra_names, plan.attribute_names = (sorted(n) for n in names)
    return plan


def records(rt: Runtime, plan: DumpPlan) -> Iterator[dict]:
    """The plan's responses as plain records, streamed (memory does not grow with rows)."""
    with rt.uow(read_only=True) as uow:
        for row in uow.responses.dump_rows(plan.account_id, plan.campaign_id, plan.after,
                                           plan.upto):
            erased = row.erased_at is not None
            yield {
                "response_id": row.id, "cursor": format_cursor(row.position),
                "change": row.change, "submitted_at": _iso(row.submitted_at),
                "updated_at": _iso(row.updated_at), "invitation_id": row.invitation_id,
                "email": None if erased else row.email,
                "crm_id": None if erased else row.crm_id,
                "nps_score": row.nps_score, "nps_category": nps_category(row.nps_score),
                "answers": {q.key: row.answers[q.key] for q in plan.survey.questions
                            if q.key in row.answers},
                "params": dict(row.params), "extra_params": dict(row.extra_params),
                "attributes": {} if erased else dict(row.attributes or {}),
            }


def advance_cursor(rt: Runtime, plan: DumpPlan, cursor_name: str) -> None:
    """Move a named cursor to the end of a dump that was written completely."""
    with rt.uow() as uow:
        uow.cursors.set(plan.account_id, plan.campaign_id, cursor_name, plan.upto, rt.clock())
        uow.commit()


def operator_principal(rt: Runtime, campaign_id: int) -> Principal:
    """The owner's read principal of a campaign, for the operator's command line."""
    with rt.uow(read_only=True) as uow:
        found = uow.campaigns.get_any(campaign_id)
    if found is None:
        raise UnknownCampaign(f"No campaign {campaign_id}.")
    return Principal(found[0], "operator", frozenset({"read"}))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- formats ---------------------------------------------------------------------------

class HashingWriter(io.RawIOBase):
    """Counts and hashes the bytes written through it (the file's SHA-256)."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


@dataclass
class DumpResult:
    """Filled in as a dump is produced: rows written and the SHA-256 of the bytes."""

    rows: int = 0
    sha256: str = ""


def dump_chunks(plan: DumpPlan, rows: Iterator[dict], fmt: str, compress: bool = False,
                result: DumpResult | None = None, progress=None,
                chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """The dump as a stream of byte chunks, for files and HTTP responses alike."""
    if fmt not in FORMATS:
        raise ValidationError(f"format must be one of {', '.join(FORMATS)}.", field="format")
    result = result if result is not None else DumpResult()
    buffer = io.BytesIO()
    hashing = HashingWriter(buffer)
    sink = gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0) if compress else hashing
    out = io.BufferedWriter(sink, buffer_size=chunk_size)
    for _ in {"csv": _csv, "jsonl": _jsonl, "xml": _xml}[fmt](plan, rows, out):
        result.rows += 1
        if progress is not None:
            progress(1)
        if buffer.tell() >= chunk_size:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    out.flush()
    if compress:
        sink.close()
    result.sha256 = hashing.sha256.hexdigest()
    if buffer.tell():
        yield buffer.getvalue()


def write_dump(plan: DumpPlan, rows: Iterator[dict], out: BinaryIO, fmt: str,
               compress: bool = False, progress=None) -> tuple[int, str]:
    """Write the dump to ``out``; (rows written, SHA-256 of the bytes written)."""
    result = DumpResult()
    for chunk in dump_chunks(plan, rows, fmt, compress, result, progress):
        out.write(chunk)
    return result.rows, result.sha256


def _cell(value) -> str | int:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(map(str, value))
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(plan: DumpPlan, rows: Iterator[dict], out: BinaryIO) -> Iterator[None]:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(plan.columns)
    for record in rows:
        writer.writerow(
            [_cell(record[c]) for c in FIXED_COLUMNS]
            + [_cell(record["answers"].get(q.key)) for q in plan.survey.questions]
            + [_cell(record["params"].get(n)) for n in plan.param_names]
            + [_cell(record["extra_params"].get(n)) for n in plan.extra_names]
            + [_cell(record["attributes"].get(n)) for n in plan.attribute_names])
        yield
    text.flush()
    text.detach()


def _jsonl(plan: DumpPlan, rows: Iterator[dict], out: BinaryIO) -> Iterator[None]:
    for record in rows:
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        yield


def _xml(plan: DumpPlan, rows: Iterator[dict], out: BinaryIO) -> Iterator[None]:
    with etree.xmlfile(out, encoding="utf-8") as xml:
        xml.write_declaration()
        with xml.element(f"{{{DUMP_NS}}}dump", nsmap={None: DUMP_NS},
                         campaign_id=str(plan.campaign_id), cursor_from=format_cursor(plan.after),
                         cursor_to=format_cursor(plan.upto)):
            for record in rows:
                xml.write(_response_element(record))
                yield


_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value) -> str:
    """A value as XML text: characters XML 1.0 cannot carry are dropped."""
    return _NOT_XML.sub("", str(value))


def _response_element(record: dict) -> etree._Element:
    q = f"{{{DUMP_NS}}}"
    response = etree.Element(q + "response", id=str(record["response_id"]),
                             cursor=record["cursor"], change=record["change"])
    for name in FIXED_COLUMNS[3:]:
        if record[name] is not None:
            etree.SubElement(response, q + name).text = _text(record[name])
    answers = etree.SubElement(response, q + "answers")
    for key, value in record["answers"].items():
        for item in value if isinstance(value, list) else [value]:
            etree.SubElement(answers, q + "answer", key=key).text = _text(item)
    for group, tag in (("params", "param"), ("extra_params", "param"),
                       ("attributes", "attribute")):
        holder = etree.SubElement(response, q + group)
        for name, value in record[group].items():
            etree.SubElement(holder, q + tag, name=_text(name)).text = _text(value)
    return response


# --- scheduled dumps ------------------------------------------------------------------

SCHEDULE_CURSOR = "scheduled"


def run_scheduled_dumps(rt: Runtime) -> int:
    """Write every due scheduled dump into the dump store; the number of files written.

    The file and its manifest are written (atomically) before the database
    records them and moves the schedule's cursor, in one transaction: a crash
    in between leaves at worst an unlisted file, and the next run repeats the range.
    """
    from service.domain.distribution import next_dump_time
    from service.storage.atomic import DumpStore
    store = DumpStore(rt.dump_dir)
    now = rt.clock()
    with rt.uow(read_only=True) as uow:
        due = uow.campaigns.due_dumps(now)
    for account_id, campaign in due:
        principal = Principal(account_id, "worker", frozenset({"read"}))
        plan = plan_dump(rt, principal, campaign.id, cursor_name=SCHEDULE_CURSOR)
        name = (f"campaign-{campaign.id}-{now:%Y%m%dT%H%M%SZ}.{campaign.dump_format}"
                + (".gz" if campaign.dump_gzip else ""))
        with store.new_file(account_id, name) as handle:
            rows, sha256 = write_dump(plan, records(rt, plan), handle, campaign.dump_format,
                                      campaign.dump_gzip)
        size = store.path(account_id, name).stat().st_size
        manifest = {"file": name, "format": campaign.dump_format, "gzip": campaign.dump_gzip,
                    "campaign_id": campaign.id, "cursor_from": format_cursor(plan.after),
                    "cursor_to": format_cursor(plan.upto), "rows": rows, "size": size,
                    "sha256": sha256, "created_at": now.isoformat()}
        with store.new_file(account_id, name + ".manifest.json") as handle:
            handle.write(json.dumps(manifest, indent=2).encode() + b"\n")
        with rt.uow() as uow:
            uow.dump_files.add(account_id, campaign_id=campaign.id, name=name,
                               format=campaign.dump_format, gzip=campaign.dump_gzip,
                               cursor_from=plan.after, cursor_to=plan.upto, rows=rows,
                               size=size, sha256=sha256, created_at=now)
            uow.cursors.set(account_id, campaign.id, SCHEDULE_CURSOR, plan.upto, now)
            uow.campaigns.set_next_dump(campaign.id, next_dump_time(
                campaign.dump_every, campaign.dump_at, now))
            uow.commit()
    return len(due)


@operation("ListDumps", scope="read", errors=(UnknownCampaign,))
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


def dump_file_path(rt: Runtime, principal: Principal, name: str):
    """The stored file (or its manifest) of one of the caller's dumps, or None."""
    from service.storage.atomic import DumpStore
    listed = name.removesuffix(".manifest.json")
    with rt.uow(read_only=True) as uow:
        row = uow.dump_files.get(principal.account_id, listed)
    return DumpStore(rt.dump_dir).path(principal.account_id, name) if row else None
