"""Responses, export cursors and scheduled dump files."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterator, Sequence

from sqlalchemy import TextClause, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Row

from service.domain.surveys import Survey
from service.storage.records import (
    CampaignResponseRecord,
    DumpFileRecord,
    ResponseRecord,
)
from service.storage.repositories.base import (
    Repository,
    as_record,
    insert_ignoring_conflicts,
    fetched,
    insert_of,
    prebuilt,
    prefixed,
    run,
    streamed,
    unprefixed,
)
from service.storage.repositories.surveys import survey_of
from service.storage.tables import (
    accounts,
    campaigns,
    contacts,
    dump_files,
    export_cursors,
    invitations,
    responses,
    surveys,
)

#: Names SQLite's JSON paths address as SQLAlchemy stores them (JSON written ASCII-escaped):
#: printable ASCII without quotes or backslashes.
_SQLITE_PATH_NAME = re.compile(r'^[\x20-\x21\x23-\x5b\x5d-\x7e]+$')
#: A response's contact, joined within the account (a colocated join once distributed).
_contact_of_response = ((contacts.c.account_id == responses.c.account_id)
                        & (contacts.c.id == responses.c.contact_id))


#: The attributes a response is reported under: those of its invitation's send; a response
#: without an invitation (an open link) has its contact's, if it has a contact.
_ATTRIBUTES = func.coalesce(invitations.c.attributes, contacts.c.attributes).label("attributes")
_ATTRIBUTES_SQL = "COALESCE(i.attributes, c.attributes)"
_JOINS_SQL = ("LEFT JOIN contacts AS c ON c.account_id = r.account_id AND c.id = r.contact_id "
              "LEFT JOIN invitations AS i "
              "ON i.account_id = r.account_id AND i.id = r.invitation_id")
#: Where dump_key_names finds each kind of name: the rows, and the JSON document of each.
_KEY_SOURCES = {"params": ("responses AS r", "r.params"),
                "extra_params": ("responses AS r", "r.extra_params"),
                "attributes": ("responses AS r " + _JOINS_SQL, _ATTRIBUTES_SQL)}


#: Prebuilt (see repositories.base.prebuilt): the statements of every answer recorded.
_NEXT_POSITION = (update(accounts).where(accounts.c.id == bindparam("of_account"))
                  .values(response_position=accounts.c.response_position + 1)
                  .returning(accounts.c.response_position))


@prebuilt
def _add(dialect: str):
    return (insert_of(dialect, responses)
            .on_conflict_do_nothing(index_elements=["account_id", "campaign_id", "submission_key"])
            .returning(responses.c.id))


@prebuilt
def _latest_per_campaign(of_campaign: bool):
    """A contact's most recent response in each campaign (or in one), newest first, with
    its campaign's name and survey (as it is now; columns survey__<name>)."""
    ranked = (select(responses, func.row_number().over(
        partition_by=responses.c.campaign_id,
        order_by=(responses.c.submitted_at.desc(), responses.c.id.desc())).label("rank"))
        .where(responses.c.account_id == bindparam("account_id"),
               responses.c.contact_id == bindparam("contact_id")))
    if of_campaign:
        ranked = ranked.where(responses.c.campaign_id == bindparam("campaign_id"))
    ranked = ranked.subquery()
    return (select(ranked, campaigns.c.name.label("campaign_name"),
                   *prefixed(surveys, "survey__"))
            .join(campaigns, (campaigns.c.account_id == ranked.c.account_id)
                  & (campaigns.c.id == ranked.c.campaign_id))
            .join(surveys, (surveys.c.account_id == campaigns.c.account_id)
                  & (surveys.c.id == campaigns.c.survey_id))
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.submitted_at.desc(), ranked.c.id.desc()))


def _with_attributes(query):
    return (query.outerjoin(contacts, _contact_of_response)
            .outerjoin(invitations, (invitations.c.account_id == responses.c.account_id)
                       & (invitations.c.id == responses.c.invitation_id)))


#: The JSON documents a dump's cells are read from, by name.
_DOCUMENTS = {"answers": "r.answers", "params": "r.params", "extra_params": "r.extra_params",
              "attributes": _ATTRIBUTES_SQL}


class _DumpStatement:
    """The SQL of a dump's cells on one dialect (json_extract on SQLite, ->> on PostgreSQL),
    with the JSON keys it addresses as bound values."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.values: dict[str, str] = {}
        self.extracting = False
        moment = ("strftime('%Y-%m-%dT%H:%M:%SZ', {})" if self.sqlite
                  else "to_char({}, 'YYYY-MM-DD\"T\"HH24\\:MI\\:SS\"Z\"')")
        #: Response id, position, change, submitted_at and updated_at as
        #: 2026-11-02T09:00:00Z, invitation id, email and CRM id (none once erased), NPS
        #: score and category: the dump's fixed columns, in their order.
        self.fixed = ["r.id", "r.position", "r.change", moment.format("r.submitted_at"),
                      moment.format("r.updated_at"), "r.invitation_id",
                      "CASE WHEN c.erased_at IS NULL THEN c.email END",
                      "CASE WHEN c.erased_at IS NULL THEN c.crm_id END", "r.nps_score",
                      "CASE WHEN r.nps_score >= 9 THEN 'promoter' WHEN r.nps_score >= 7 "
                      "THEN 'passive' WHEN r.nps_score >= 0 THEN 'detractor' END"]

    @property
    def joins(self) -> str:
        """The joins of the statement. PostgreSQL parses a json document again for each
        ->>: the documents a row's cells are read from are parsed once, to jsonb (the
        same texts for the strings and integers the doors store; half the server's time)."""
        if self.sqlite or not self.extracting:
            return _JOINS_SQL
        documents = ", ".join(f"{sql}::jsonb AS {name}" for name, sql in _DOCUMENTS.items())
        return f"{_JOINS_SQL} CROSS JOIN LATERAL (SELECT {documents} OFFSET 0) AS j"

    def key(self, name: str) -> str:
        self.values[f"k{len(self.values)}"] = f'$."{name}"' if self.sqlite else name
        return f":k{len(self.values) - 1}"

    def document(self, name: str) -> str:
        self.extracting = True
        return _DOCUMENTS[name] if self.sqlite else f"j.{name}"

    def extract(self, document: str, name: str) -> str:
        if self.sqlite:
            return f"json_extract({self.document(document)}, {self.key(name)})"
        return f"{self.document(document)} ->> {self.key(name)}"

    def joined(self, document: str, name: str) -> str:
        if self.sqlite:
            return (f"(SELECT group_concat(value, ';') FROM json_each({self.document(document)}, "
                    f"{self.key(name)}))")
        return (f"(SELECT string_agg(e, ';') FROM jsonb_array_elements_text("
                f"{self.document(document)} -> {self.key(name)}) AS e)")


class ResponseRepository(Repository):
    def assign_position(self, account_id: int) -> int:
        """The next export position of the account.

        The row lock this UPDATE takes is held until commit, so positions of one
        account are committed in the order they are handed out: an exporter that
        has read position N has already seen every committed position below N.
        Call it as the last write of a transaction to keep the lock short.
        """
        return run(self.connection, _NEXT_POSITION, {"of_account": account_id}).scalar_one()

    def add(self, account_id: int, campaign_id: int, invitation_id: int | None,
            contact_id: int | None, answers: dict[str, object], params: dict[str, str],
            extra_params: dict[str, str], nps_score: int | None, now: datetime,
            submission_key: str | None = None, survey_version: int = 1) -> int | None:
        """The new response's id; None when ``submission_key`` was recorded already.

        Two answers to one invitation never both get here: the invitation's move to
        "responded" (InvitationRepository.apply) admits one of them. Two submissions of
        one open-link form may: ON CONFLICT DO NOTHING admits one without aborting the
        other's transaction on PostgreSQL.
        """
        position = self.assign_position(account_id)
        return run(self.connection, _add(self.connection.dialect.name), {
            "account_id": account_id, "campaign_id": campaign_id,
            "invitation_id": invitation_id, "contact_id": contact_id, "answers": answers,
            "params": params, "extra_params": extra_params, "nps_score": nps_score,
            "submitted_at": now, "updated_at": now, "change": "new", "position": position,
            "submission_key": submission_key, "survey_version": survey_version}).scalar()

    def by_submission(self, account_id: int, campaign_id: int,
                      submission_key: str) -> ResponseRecord | None:
        return self._record(ResponseRecord, select(responses).where(
            responses.c.account_id == account_id, responses.c.campaign_id == campaign_id,
            responses.c.submission_key == submission_key))

    def get(self, account_id: int, response_id: int) -> ResponseRecord | None:
        return self._record(ResponseRecord, select(responses).where(
            responses.c.account_id == account_id, responses.c.id == response_id))

    def correct(self, account_id: int, response_id: int, answers: dict[str, object],
                nps_score: int | None, now: datetime) -> None:
        """New answers; the next incremental export reports the row again as corrected."""
        self.connection.execute(update(responses).where(
            responses.c.account_id == account_id, responses.c.id == response_id).values(
            answers=answers, nps_score=nps_score, change="corrected", updated_at=now,
            position=self.assign_position(account_id)))

    def of_contact(self, account_id: int, contact_id: int) -> list[ResponseRecord]:
        return self._records(ResponseRecord, select(responses).where(
            responses.c.account_id == account_id, responses.c.contact_id == contact_id)
            .order_by(responses.c.id))

    def anonymise(self, account_id: int, response_id: int, answers: dict[str, object],
                  now: datetime) -> None:
        """Keep only the given answers; the next incremental export reports the erasure."""
        self.connection.execute(update(responses).where(
            responses.c.account_id == account_id, responses.c.id == response_id).values(
            answers=answers, params={}, extra_params={}, change="erased", updated_at=now,
            position=self.assign_position(account_id)))

    def latest_per_campaign(self, account_id: int, contact_id: int, campaign_id: int | None
                            ) -> list[tuple[CampaignResponseRecord, Survey]]:
        """The contact's most recent response in each campaign, newest campaign activity
        first, each with the survey of its campaign as it is now, in one statement."""
        values = {"account_id": account_id, "contact_id": contact_id}
        if campaign_id is not None:
            values["campaign_id"] = campaign_id
        return [(as_record(CampaignResponseRecord, row), survey_of(unprefixed(row, "survey__")))
                for row in run(self.connection, _latest_per_campaign(campaign_id is not None),
                               values)]

    def for_metrics(self, account_id: int, campaign_id: int, date_from: datetime | None,
                    date_to: datetime | None) -> Iterator[Row]:
        """(invitation_id, nps_score, answers, attributes of the send) of a campaign's responses."""
        query = (_with_attributes(select(responses.c.invitation_id, responses.c.nps_score,
                                         responses.c.answers, responses.c.submitted_at,
                                         _ATTRIBUTES))
                 .where(responses.c.account_id == account_id,
                        responses.c.campaign_id == campaign_id))
        if date_from is not None:
            query = query.where(responses.c.submitted_at >= date_from)
        if date_to is not None:
            query = query.where(responses.c.submitted_at < date_to)
        return streamed(self.connection, query)

    def for_view(self, account_id: int, campaign_id: int, date_from: datetime | None,
                 date_to: datetime | None) -> Iterator[Row]:
        """A campaign's responses newest first, with their contact's id, email and erasure,
        and the attributes of their sends: what the dashboard lists and downloads."""
        query = (_with_attributes(select(responses.c.id, responses.c.submitted_at,
                                         responses.c.nps_score, responses.c.answers,
                                         responses.c.contact_id, contacts.c.email,
                                         contacts.c.erased_at, _ATTRIBUTES))
                 .where(responses.c.account_id == account_id,
                        responses.c.campaign_id == campaign_id)
                 .order_by(responses.c.submitted_at.desc(), responses.c.id.desc()))
        if date_from is not None:
            query = query.where(responses.c.submitted_at >= date_from)
        if date_to is not None:
            query = query.where(responses.c.submitted_at < date_to)
        return streamed(self.connection, query)

    def span(self, account_id: int, campaign_id: int | None = None
             ) -> dict[int, tuple[datetime, datetime]]:
        """The first and last submission time of each campaign that has responses."""
        query = (select(responses.c.campaign_id, func.min(responses.c.submitted_at),
                        func.max(responses.c.submitted_at))
                 .where(responses.c.account_id == account_id)
                 .group_by(responses.c.campaign_id))
        if campaign_id is not None:
            query = query.where(responses.c.campaign_id == campaign_id)
        return {row[0]: (row[1], row[2]) for row in self.connection.execute(query)}

    def last_position(self, account_id: int, campaign_id: int) -> int:
        """The highest export position of a campaign's committed responses (0: none)."""
        return self.connection.execute(select(func.coalesce(func.max(responses.c.position), 0))
                                       .where(responses.c.account_id == account_id,
                                              responses.c.campaign_id == campaign_id)).scalar_one()

    def count_range(self, account_id: int, campaign_id: int, after: int, upto: int) -> int:
        return self.connection.execute(select(func.count()).select_from(responses).where(
            responses.c.account_id == account_id, responses.c.campaign_id == campaign_id,
            responses.c.position > after, responses.c.position <= upto)).scalar_one()

    def positions_at(self, account_id: int, campaign_id: int, after: int, upto: int,
                     offsets: list[int]) -> list[int]:
        """The position of the ``offset``-th response (from 1) after ``after``, up to
        ``upto``, for each offset (a walk along the campaign's position index): where a
        range is cut into parts of about as many rows each."""
        where = (responses.c.account_id == account_id, responses.c.campaign_id == campaign_id,
                 responses.c.position > after, responses.c.position <= upto)
        return [self.connection.execute(select(responses.c.position).where(*where)
                                        .order_by(responses.c.position)
                                        .offset(offset - 1).limit(1)).scalar_one()
                for offset in offsets]

    def dump_key_names(self, account_id: int, campaign_id: int, after: int, upto: int,
                       kind: str) -> list[str]:
        """The names of the parameters (``kind`` "params"), captured extra parameters
        ("extra_params") or attributes of the sends ("attributes") that occur in the
        responses with positions in (after, upto], sorted.

        The database lists the keys of its JSON columns itself (SQLite's json_each,
        PostgreSQL's json_object_keys): no row is decoded here.
        """
        source, column = _KEY_SOURCES[kind]
        where = ("r.account_id = :account AND r.campaign_id = :campaign "
                 "AND r.position > :after AND r.position <= :upto")
        keys = ("SELECT DISTINCT j.key FROM {source} JOIN json_each({column}) AS j WHERE {where}"
                if self.connection.dialect.name == "sqlite" else
                "SELECT DISTINCT json_object_keys({column}) FROM {source} WHERE {where}")
        statement = text(keys.format(source=source, column=column, where=where))
        return sorted(self.connection.execute(statement, {
            "account": account_id, "campaign": campaign_id, "after": after,
            "upto": upto}).scalars())

    def dump_table(self, account_id: int, campaign_id: int, after: int, upto: int,
                   questions: list[tuple[str, bool]], params: list[str], extras: list[str],
                   attributes: list[str]) -> Iterator[Sequence] | None:
        """The CSV cells of the responses with positions in (after, upto], computed by the
        database and streamed in position order, or None when a name cannot be addressed
        there (the caller then builds the cells from the records).

        Per row: the fixed cells (see _DumpStatement.fixed), then one cell per question
        (``(key, is_multi)``: a multiple choice joined with ";"), parameter, extra
        parameter and attribute (none once erased), in the order given. The formula
        guard is the caller's.
        """
        names = [*params, *extras, *attributes]
        dump = _DumpStatement(self.connection.dialect.name)
        if dump.sqlite and not all(_SQLITE_PATH_NAME.match(name) for name in names):
            return None
        cells = [dump.joined("answers", k) if multi else dump.extract("answers", k)
                 for k, multi in questions]
        cells += [dump.extract("params", n) for n in params]
        cells += [dump.extract("extra_params", n) for n in extras]
        cells += [f"CASE WHEN c.erased_at IS NULL THEN {dump.extract('attributes', n)} END"
                  for n in attributes]
        return self._dump(dump, cells, account_id, campaign_id, after, upto)

    def dump_records(self, account_id: int, campaign_id: int, after: int,
                     upto: int) -> Iterator[Sequence]:
        """The responses with positions in (after, upto], streamed in position order: the
        fixed cells (see _DumpStatement.fixed), then one JSON array of the answers,
        parameters, extra parameters and the attributes of the send (null once erased).

        The caller decodes the array with one call per row, and no type processor runs:
        the stored JSON documents are joined as they are.
        """
        return self._dump(_DumpStatement(self.connection.dialect.name), [
            "'[' || CAST(r.answers AS TEXT) || ',' || CAST(r.params AS TEXT) || ',' || "
            "CAST(r.extra_params AS TEXT) || ',' || COALESCE(CASE WHEN c.erased_at IS NULL "
            f"THEN CAST({_ATTRIBUTES_SQL} AS TEXT) END, 'null') || ']'"],
            account_id, campaign_id, after, upto)

    def _dump(self, dump: _DumpStatement, cells: list[str], account_id: int, campaign_id: int,
              after: int, upto: int) -> Iterator[Sequence]:
        statement = text(
            f"SELECT {', '.join(dump.fixed + cells)} FROM responses AS r {dump.joins} "
            "WHERE r.account_id = :account AND r.campaign_id = :campaign "
            "AND r.position > :after AND r.position <= :upto ORDER BY r.position")
        values = {"account": account_id, "campaign": campaign_id, "after": after, "upto": upto,
                  **dump.values}
        if dump.sqlite:
            # Its cells are text, numbers and NULL with no type to process: the driver's
            # tuples, 5,000 a fetch, without SQLAlchemy's rows around them.
            return fetched(self.connection, statement, values)
        return self._copied(statement, values)

    def _copied(self, statement: TextClause, values: dict[str, Any]) -> Iterator[tuple]:
        """The rows of a query on PostgreSQL through COPY ... TO STDOUT, as a cursor gives
        them (the same types, so the same values): the server streams them while they are
        written here, where a cursor's fetches and their processing would wait on each
        other."""
        compiled = statement.compile(dialect=self.connection.dialect)
        query, parameters = str(compiled), compiled.construct_params(values)
        cursor = self.connection.connection.cursor()
        cursor.execute(f"SELECT * FROM ({query}) AS q LIMIT 0", parameters)
        types = [column.type_code for column in cursor.description]
        with cursor.copy(f"COPY ({query}) TO STDOUT", parameters) as copy:
            copy.set_types(types)
            yield from copy.rows()

    def export_rows(self, account_id: int, campaign_id: int, after: int,
                    limit: int | None) -> Iterator[Row]:
        """Responses of a campaign after export position ``after``, in position order."""
        query = (select(responses, contacts.c.email, contacts.c.crm_id, contacts.c.erased_at)
                 .outerjoin(contacts, _contact_of_response)
                 .where(responses.c.account_id == account_id,
                        responses.c.campaign_id == campaign_id,
                        responses.c.position > after)
                 .order_by(responses.c.position))
        if limit is not None:
            query = query.limit(limit)
        return iter(self.connection.execute(query))


class ExportCursorRepository(Repository):
    def get(self, account_id: int, campaign_id: int, name: str) -> int:
        return self.connection.execute(select(export_cursors.c.position).where(
            export_cursors.c.account_id == account_id, export_cursors.c.campaign_id == campaign_id,
            export_cursors.c.name == name)).scalar() or 0

    def set(self, account_id: int, campaign_id: int, name: str, position: int,
            now: datetime) -> None:
        key = {"account_id": account_id, "campaign_id": campaign_id, "name": name}
        self.connection.execute(insert_ignoring_conflicts(self.connection, export_cursors)
                                .values(**key, position=position, updated_at=now)
                                .on_conflict_do_update(
                                    index_elements=list(key),
                                    set_={"position": position, "updated_at": now}))


class DumpFileRepository(Repository):
    def add(self, account_id: int, **values: Any) -> None:
        self.connection.execute(insert(dump_files).values(account_id=account_id, **values))

    def list(self, account_id: int, campaign_id: int | None, limit: int) -> list[DumpFileRecord]:
        query = select(dump_files).where(dump_files.c.account_id == account_id)
        if campaign_id is not None:
            query = query.where(dump_files.c.campaign_id == campaign_id)
        return self._records(DumpFileRecord, query.order_by(dump_files.c.id.desc()).limit(limit))

    def get(self, account_id: int, name: str) -> DumpFileRecord | None:
        return self._record(DumpFileRecord, select(dump_files).where(
            dump_files.c.account_id == account_id, dump_files.c.name == name))
