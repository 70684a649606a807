"""The hot paths' prepared statements (repositories.base.run) read and write exactly what
SQLAlchemy's own execution of the same statements does, on both databases."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import String, event, exc, select

from service.services import messages as m
from service.storage.repositories import base, contacts, invitations, responses, surveys
from service.storage.repositories.base import Executed, run, run_rows
from service.storage.tables import contacts as contact_table
from service.storage.tables import invitation_events
from service.storage.tables import invitations as invitation_table
from tests.conftest import call


ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.fixture
def answered(rt, admin, new_campaign):
    """(account id, campaign id, invitation id, contact id) of an answered invitation."""
    campaign_id = new_campaign()
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="ana@example.com",
                event_id="e1", params=[m.Param("store", "7")])
    call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "9")])
    with rt.uow(read_only=True) as uow:
        invitation = uow.invitations.get(admin.account_id, link.invitation_id)
    return admin.account_id, campaign_id, invitation.id, invitation.contact_id


def look_ups(account_id: int, campaign_id: int, invitation_id: int, contact_id: int) -> list:
    return [
        (invitations._BY_ID, {"account_id": account_id, "id": invitation_id}),
        (invitations._OF_EVENT, {"account_id": account_id, "campaign_id": campaign_id,
                                 "event_id": "e1"}),
        (invitations._LATEST_SEND, {"account_id": account_id, "campaign_id": campaign_id,
                                    "email": "ana@example.com"}),
        (invitations._LATEST, {"account_id": account_id, "campaign_id": campaign_id,
                               "contact_id": contact_id}),
        (invitations._last_invited(True), {"account_id": account_id, "contact_id": contact_id,
                                           "campaign_id": campaign_id}),
        (contacts._BY_EMAIL, {"account_id": account_id, "email": "ana@example.com"}),
        (surveys._CAMPAIGN_AND_SURVEY, {"account_id": account_id, "id": campaign_id}),
        (responses._latest_per_campaign(True), {"account_id": account_id,
                                                "contact_id": contact_id,
                                                "campaign_id": campaign_id}),
    ]


def test_a_look_up_gives_the_rows_and_values_sqlalchemy_gives(engine, answered):
    with engine.connect() as connection:
        for statement, values in look_ups(*answered):
            prepared = run(connection, statement, values)
            assert isinstance(prepared, Executed)
            expected = connection.execute(statement, values).all()
            got = prepared.all()
            assert expected, statement
            assert [tuple(row) for row in got] == [tuple(row) for row in expected]
            # the values keep their types: date-times aware, JSON decoded, bytes as bytes
            assert [type(v) for v in got[0]] == [type(v) for v in expected[0]]
            assert got[0]._fields == tuple(expected[0]._fields)


def test_an_unknown_key_finds_no_row(engine, answered):
    account_id = answered[0]
    with engine.connect() as connection:
        result = run(connection, invitations._BY_ID, {"account_id": account_id, "id": 10**9})
        assert result.first() is None and result.scalar() is None and result.all() == []
        with pytest.raises(exc.NoResultFound):
            result.scalar_one()


def test_an_insert_writes_the_columns_its_values_name_and_the_defaults_of_the_others(
        engine, answered):
    account_id, _, invitation_id, _ = answered
    at = datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=timezone.utc)
    with engine.begin() as connection:
        run(connection, invitations._RECORD_EVENTS, {
            "account_id": account_id, "invitation_id": invitation_id, "at": at,
            "event": "probe", "detail": "with a detail"})
        # the same statement with one column fewer is compiled apart: detail's default
        run(connection, invitations._RECORD_EVENTS, {
            "account_id": account_id, "invitation_id": invitation_id, "at": at,
            "event": "probe"})
        rows = connection.execute(select(invitation_events.c.at, invitation_events.c.detail)
                                  .where(invitation_events.c.event == "probe")
                                  .order_by(invitation_events.c.id)).all()
    assert rows == [(at, "with a detail"), (at, "")]


def test_a_returning_update_counts_and_returns_what_it_changed(engine, answered):
    account_id = answered[0]
    with engine.begin() as connection:
        first = run(connection, responses._NEXT_POSITION, {"of_account": account_id})
        second = run(connection, responses._NEXT_POSITION, {"of_account": account_id})
    assert first.rowcount in (1, -1)   # some drivers count only after the rows are read
    assert second.scalar_one() == first.scalar_one() + 1


def test_a_driver_error_comes_out_as_sqlalchemy_s_with_the_driver_s_as_its_cause(
        engine, answered):
    account_id, campaign_id, invitation_id, contact_id = answered
    with engine.connect() as connection, pytest.raises(exc.IntegrityError) as raised:
        run(connection, invitations._RECORD_EVENTS, {
            "account_id": account_id, "invitation_id": invitation_id + 10**6,
            "at": datetime.now(timezone.utc), "event": "orphan", "detail": ""})
    assert isinstance(raised.value.orig, engine.dialect.loaded_dbapi.Error)


def test_an_in_list_is_expanded_for_each_execution(engine, answered, new_campaign):
    account_id, campaign_id = answered[:2]
    other = new_campaign()
    with engine.connect() as connection:
        # each length is laid out once, then reused (the last two reuse the first two)
        for ids in ([campaign_id], [campaign_id, other], [other, campaign_id, 10**9],
                    [other], [other, campaign_id]):
            values = {"account_id": account_id, "campaign_ids": ids}
            result = run(connection, surveys._SURVEYS_OF_CAMPAIGNS, values)
            assert isinstance(result, Executed)
            assert sorted(result.all()) == sorted(
                connection.execute(surveys._SURVEYS_OF_CAMPAIGNS, values).all())
            assert sorted(row.campaign_id for row in result) == sorted(set(ids) - {10**9})


def test_statement_listeners_are_told_of_a_prepared_statement_with_its_compiled_form(
        engine, answered):
    account_id, _, invitation_id, _ = answered
    told = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:
        told.append((statement, context.compiled.statement, executemany))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.connect() as connection:
            row = run(connection, invitations._BY_ID,
                      {"account_id": account_id, "id": invitation_id}).first()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert row.id == invitation_id
    assert len(told) == 1 and told[0][1] is invitations._BY_ID and told[0][2] is False
    assert told[0][0] == str(invitations._BY_ID.compile(dialect=engine.dialect))


def test_each_statement_is_compiled_once_per_dialect_and_set_of_columns(engine, answered):
    account_id, _, invitation_id, _ = answered
    values = {"account_id": account_id, "id": invitation_id}
    with engine.connect() as connection:
        run(connection, invitations._BY_ID, values)
        prepared = base._PREPARED[(id(invitations._BY_ID), engine.dialect.name, None)]
        run(connection, invitations._BY_ID, values)
        assert base._PREPARED[(id(invitations._BY_ID), engine.dialect.name, None)] is prepared


def test_many_rows_are_inserted_at_once_and_a_conflict_skips_only_its_row(engine, answered):
    account_id = answered[0]
    now = datetime(2026, 5, 6, 7, 8, 9, 123_456, tzinfo=timezone.utc)
    rows = [{"account_id": account_id, "email": email, "crm_id": crm_id,
             "attributes": {"store": email[0]}, "created_at": now, "updated_at": now}
            for email, crm_id in (("bo@example.com", None), ("ana@example.com", "c-1"),
                                  ("cy@example.com", "c-2"))]
    statement = contacts._create_many(engine.dialect.name)
    told = []

    def listen(conn, cursor, sql, *rest) -> None:
        told.append(sql)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.begin() as connection:
            returned = run_rows(connection, statement, rows)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert sorted(email for _, email in returned) == ["bo@example.com", "cy@example.com"]
    if engine.dialect.name == "sqlite":
        assert len(told) == 1 and told[0].count("(?, ?, ?, ?, ?, ?)") == 3
    with engine.connect() as connection:
        stored = {row.email: row for row in connection.execute(
            select(contact_table).where(contact_table.c.account_id == account_id))}
    assert stored["bo@example.com"].crm_id is None
    assert stored["cy@example.com"].crm_id == "c-2"
    assert stored["cy@example.com"].attributes == {"store": "c"}
    assert stored["cy@example.com"].created_at == now
    assert stored["ana@example.com"].crm_id is None   # the existing contact is untouched


def test_a_statement_with_an_in_list_binds_its_other_values_as_sqlalchemy_does(
        engine, answered):
    account_id, _, invitation_id, _ = answered
    at = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=timezone.utc)
    with engine.begin() as connection:
        # an IN list among the values: a date-time beside it is still converted
        run(connection, invitations._events_of_many(engine.dialect.name, 1), {
            "account_id": account_id, "at0": at, "event0": "fast", "detail0": "",
            "ids": f"[{invitation_id}]"})
        connection.execute(invitations._events_of_many(engine.dialect.name, 1), {
            "account_id": account_id, "at0": at, "event0": "core", "detail0": "",
            "ids": f"[{invitation_id}]"})
        stored = connection.execute(
            select(invitation_events.c.event, invitation_events.c.at.cast(String))
            .where(invitation_events.c.event.in_(["fast", "core"]))).all()
    assert len(stored) == 2 and stored[0][1] == stored[1][1], stored


def test_none_goes_through_the_bind_processors_as_sqlalchemy_sends_it(engine, answered):
    account_id, _, _, contact_id = answered
    now = datetime.now(timezone.utc)
    stored = []
    for execute in (run, lambda connection, statement, values:
                    connection.execute(statement, values)):
        with engine.begin() as connection:
            # JSON's None is the document null (SQLAlchemy's default), not SQL NULL
            execute(connection, contacts._MERGE, {
                "of_account": account_id, "of_id": contact_id, "attributes": None,
                "crm_id": None, "updated_at": now})
            stored.append(connection.execute(
                select(contact_table.c.attributes.cast(String), contact_table.c.crm_id)
                .where(contact_table.c.id == contact_id)).one())
    assert stored[0] == stored[1] and stored[0][1] is None, stored
    assert stored[0][0] is not None


def _two_inserts(engine, account_id: int, campaign_id: int, contact_id: int,
                 make) -> tuple[list, list]:
    """The invitation rows ``make(tag)`` stored by run_rows and by SQLAlchemy's own
    executemany, each read back without the columns that must differ."""
    statement = invitations._add(engine.dialect.name)
    stored = []
    for tag, execute in (("fast", run_rows), ("core", lambda connection, statement, rows:
                                               connection.execute(statement, rows).all())):
        with engine.begin() as connection:
            made = make(tag)
            returned = list(execute(connection, statement, made))
            # The caller matches the new ids to its rows by their nonces.
            assert sorted(bytes(nonce) for _, nonce in returned) == \
                sorted(row["nonce"] for row in made)
            rows = connection.execute(
                select(invitation_table).where(invitation_table.c.account_id == account_id,
                                               invitation_table.c.event_id.like(f"{tag}-%"))
                .order_by(invitation_table.c.id)).all()
            # The JSON documents' very text too (PostgreSQL's json keeps it as written).
            texts = connection.execute(
                select(invitation_table.c.params.cast(String),
                       invitation_table.c.attributes.cast(String))
                .where(invitation_table.c.account_id == account_id,
                       invitation_table.c.event_id.like(f"{tag}-%"))
                .order_by(invitation_table.c.id)).all()
        stored.append([({key: value for key, value in row._mapping.items()
                         if key not in ("id", "nonce", "event_id")}, tuple(text))
                       for row, text in zip(rows, texts)])
    return stored[0], stored[1]


def test_many_rows_store_every_type_as_sqlalchemy_s_executemany_stores_it(engine, answered):
    account_id, campaign_id, _, contact_id = answered
    at = datetime(2026, 5, 6, 7, 8, 9, 123_456, tzinfo=timezone.utc)

    def make(tag: str) -> list[dict]:
        return [{"account_id": account_id, "campaign_id": campaign_id, "contact_id": contact_id,
                 "nonce": bytes([n, 0, 255]) + tag.encode(), "params": params,
                 "event_id": f"{tag}-{n}", "status": "scheduled", "created_at": at,
                 "send_at": send_at, "sent_at": None, "expires_at": None,
                 "attributes": attributes}
                for n, (params, send_at, attributes) in enumerate([
                    ({"a": "1", "ü": "ß \" ' \\ {}"}, at, {}),
                    ({}, None, None),                  # JSON's None: the document null
                    ({"n": "x" * 300}, datetime(1999, 1, 1, tzinfo=timezone.utc), {"k": "v"})])]

    fast, core = _two_inserts(engine, account_id, campaign_id, contact_id, make)
    assert fast == core
    assert fast[0][0]["params"] == {"a": "1", "ü": "ß \" ' \\ {}"}
    assert fast[0][0]["send_at"] == at and fast[2][0]["sent_at"] is None


@ON_POSTGRESQL   # SQLite takes the rows as one VALUES list (the test above)
def test_on_postgresql_many_rows_are_one_statement_taking_them_as_one_document(
        engine, answered):
    account_id, campaign_id, _, contact_id = answered
    told = []

    def listen(conn, cursor, sql, *rest) -> None:
        told.append(sql)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        for size in (2, 700):
            rows = [{"account_id": account_id, "email": f"arr{size}-{n}@example.com",
                     "crm_id": None, "attributes": {}, "created_at": datetime.now(timezone.utc),
                     "updated_at": datetime.now(timezone.utc)} for n in range(size)]
            with engine.begin() as connection:
                assert len(list(run_rows(connection, contacts._create_many("postgresql"),
                                         rows))) == size
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    inserts = [sql for sql in told if sql.startswith("INSERT INTO contacts")]
    assert len(inserts) == 2 and inserts[0] == inserts[1]   # the same SQL for any count
    assert "SELECT r.account_id::BIGINT, r.email::VARCHAR, " in inserts[0]
    assert "FROM json_to_recordset(%(rows)s::json) AS r(account_id text, " in inserts[0]
    assert " VALUES " not in inserts[0]


@ON_POSTGRESQL   # SQLite does not hold a VARCHAR to its length
def test_on_postgresql_a_value_longer_than_its_column_is_refused_not_cut(engine, answered):
    account_id = answered[0]
    now = datetime.now(timezone.utc)
    rows = [{"account_id": account_id, "email": email, "crm_id": crm_id, "attributes": {},
             "created_at": now, "updated_at": now}
            for email, crm_id in (("long1@example.com", "c" * 101), ("long2@example.com", "d"))]
    with pytest.raises(exc.DataError, match="too long"):
        with engine.begin() as connection:
            run_rows(connection, contacts._create_many("postgresql"), rows)


def test_the_same_events_of_many_invitations_are_stored_as_each_one_s_alone(
        engine, rt, admin, new_campaign):
    campaign_id = new_campaign()
    ids = [call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=f"h{n}@example.com",
                event_id=f"h{n}").invitation_id for n in range(4)]
    at = datetime(2026, 3, 4, 5, 6, 7, 890_123, tzinfo=timezone.utc)
    later = datetime(2026, 3, 4, 5, 6, 8, tzinfo=timezone.utc)
    events = [(invitation_id, when, event, detail) for invitation_id in ids
              for when, event, detail in ((at, "probe", "first"), (later, "probe2", "x" * 600))]
    with engine.begin() as connection:
        repository = invitations.InvitationRepository(connection)
        repository.record_events(admin.account_id, events[:6])   # three alike: one statement
        repository.record_events(admin.account_id, events[6:])   # one alone
    with engine.connect() as connection:
        stored = connection.execute(
            select(invitation_events.c.invitation_id, invitation_events.c.event,
                   invitation_events.c.detail, invitation_events.c.at.cast(String),
                   invitation_events.c.at)
            .where(invitation_events.c.event.in_(["probe", "probe2"]))
            .order_by(invitation_events.c.id)).all()
    # In the order given: each invitation's events in theirs, the details cut at 500.
    assert [(row[0], row[1]) for row in stored] == [(e[0], e[2]) for e in events]
    assert {len(row[2]) for row in stored if row[1] == "probe2"} == {500}
    # The very same stored text of a moment, whichever way it went in.
    assert stored[0][3] == stored[6][3] and stored[1][3] == stored[7][3]
    with engine.begin() as connection:   # a state change: one event of one invitation
        invitations.InvitationRepository(connection).record_events(
            admin.account_id, [(ids[0], at, "probe3", "")])
        assert connection.execute(select(invitation_events.c.at.cast(String)).where(
            invitation_events.c.event == "probe3")).scalar_one() == stored[0][3]
    assert stored[0][4] == at and stored[1][4] == later


def test_events_given_for_another_account_s_invitations_are_refused(
        engine, rt, admin, new_campaign):
    campaign_id = new_campaign()
    ids = [call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email=f"o{n}@example.com",
                event_id=f"o{n}").invitation_id for n in range(2)]
    now = datetime.now(timezone.utc)
    with pytest.raises(exc.IntegrityError):
        with engine.begin() as connection:
            invitations.InvitationRepository(connection).record_events(
                admin.account_id + 1000, [(invitation_id, now, "x", "") for invitation_id in ids])


def test_recording_answers_reads_the_invitation_and_what_it_needs_in_one_statement(
        engine, rt, admin, new_campaign):
    campaign_id = new_campaign()
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="r@example.com")
    told = []

    def listen(conn, cursor, sql, *rest) -> None:
        told.append(sql.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", listen)
    try:
        call(rt, admin, "RecordResponse", invitation_id=link.invitation_id,
             answers=[m.Answer("nps", "8")])
        with_token = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id,
                          email="t@example.com")
        told.append("--")
        call(rt, admin, "RecordResponse", token=with_token.url.rsplit("/", 1)[1],
             answers=[m.Answer("nps", "6")])
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    by_id, by_token = told[:told.index("--")], told[told.index("--") + 1:]
    for statements in (by_id, by_token):
        assert statements[0] == "SELECT" and statements[1] != "SELECT", told


def test_another_account_s_invitation_is_no_link_of_this_one(engine, answered):
    account_id, _, invitation_id, _ = answered
    with engine.connect() as connection:
        repository = invitations.InvitationRepository(connection)
        assert repository.link(account_id, invitation_id).invitation.id == invitation_id
        assert repository.link(account_id + 1, invitation_id) is None
