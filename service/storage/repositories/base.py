"""What every repository shares: the connection, IN lists, chunking, inserts that skip conflicts."""
from __future__ import annotations

import dataclasses
import functools
import json
import keyword
import re
from collections import namedtuple
from operator import itemgetter
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import any_, bindparam, exc, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql import sqltypes

R = TypeVar("R")
S = TypeVar("S")

#: Rows per IN (...) list or multi-row statement: well inside every backend's limits.
CHUNK = 500


def among(connection: Connection, column, values: list):
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of hundreds."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def among_literals(column, values: tuple[str, ...]):
    """``column IN (values)`` with the values written into the SQL: the form of the partial
    indexes' predicates (tables._where), which a planner matches only against literals."""
    return column.in_(bindparam(None, list(values), expanding=True, literal_execute=True))


def prefixed(table, prefix: str) -> list:
    """A table's columns labelled ``<prefix><name>``, for a row that joins several tables
    (``unprefixed`` reads them back by their own names)."""
    return [column.label(f"{prefix}{column.name}") for column in table.c]


def unprefixed(row: Row, prefix: str):
    """The columns of a row whose names carry ``prefix``, as a row of their own names
    (what ``campaign_of`` and its kin read): one C-level pick of the values, where an
    attribute lookup by prefixed name per field cost a tenth of a survey page."""
    make, pick = _unprefixed_shape(row._fields, prefix)
    return make(pick(row))


@functools.cache
def _unprefixed_shape(fields: tuple[str, ...], prefix: str) -> tuple[Callable, Callable]:
    """For rows with these fields: the row type of the prefixed ones by their own names,
    and the picker of their values."""
    indexes = [index for index, name in enumerate(fields) if name.startswith(prefix)]
    shape = namedtuple("Unprefixed", [fields[index][len(prefix):] for index in indexes])
    if len(indexes) == 1:   # itemgetter of one index gives the value, not a tuple
        return shape._make, lambda row, index=indexes[0]: (row[index],)
    return shape._make, itemgetter(*indexes)


def prebuilt(build: Callable[..., S]) -> Callable[..., S]:
    """``build(*shape)`` made once per shape (a dialect name, which optional filters a
    query has), its values named ``bindparam``s given at execution.

    SQLAlchemy keys its compiled-statement cache by a statement's structure, and a statement
    object remembers its key: running a prebuilt statement costs a fifth of building the
    same one for each call (15 against 77 microseconds for a SELECT by key here), which on
    a single-row call is most of the time spent outside the database. The hot paths' statements
    are built this way or as module constants; the rest are built per call for clarity.
    Shapes must be strings, numbers or booleans (a Column's == builds SQL, not a bool).
    """
    return functools.cache(build)


def _AS_IS(value):
    """The bind processor of a value the driver takes as it is."""
    return value


class _Prepared:
    """A prebuilt statement compiled once for one dialect, run on the driver's own cursor.

    What SQLAlchemy does on each execution of a compiled statement (the cache key, the
    execution context, the result's metadata, the events) costs several times what the
    database itself spends on a look-up by key; a prepared statement keeps only what a
    row needs: the statement's own bind and result processors, applied as SQLAlchemy
    applies them (to every value, None too: JSON's None is the document ``null``), so
    values go in and come out exactly as through ``execute``.
    """

    __slots__ = ("statement", "compiled", "sql", "expanding", "lists", "layouts", "positions",
                 "binds", "row", "results")

    def __init__(self, statement, dialect, column_keys: tuple[str, ...] | None) -> None:
        self.statement = statement   # keeps the id it is cached under from being reused
        compiled = self.compiled = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        self.sql = compiled.string
        self.expanding = "POSTCOMPILE" in self.sql
        self.lists = tuple(dict.fromkeys(compiled.bind_names[bind]
                                         for bind in compiled.binds.values() if bind.expanding))
        self.layouts: dict[tuple[int, ...], tuple] = {}
        self.positions = tuple(compiled.positiontup) if compiled.positional else None
        self.binds = tuple(compiled._bind_processors.items())
        columns = compiled._result_columns or []
        names = [column.keyname for column in columns]
        self.row = namedtuple("Row", names, rename=True) if names else None
        self.results = tuple((index, processor) for index, processor in enumerate(
            column.type._cached_result_processor(dialect, None) for column in columns)
            if processor is not None)

    def eligible(self) -> bool:
        """Whether the driver can run it as compiled: no value SQLAlchemy computes at
        execution (Python-side column defaults), result columns that name a row's
        attributes."""
        compiled = self.compiled
        names = self.row._fields if self.row is not None else ()
        return (not compiled.insert_prefetch and not compiled.update_prefetch
                and all(name.isidentifier() and not keyword.iskeyword(name)
                        and not name.startswith("_") for name in names))

    def sql_and_parameters(self, values: dict) -> tuple[str, Any]:
        """The SQL and the driver's parameters of one execution: IN lists (and values
        rendered into the SQL) make the SQL of each execution."""
        if self.expanding and self.positions is not None \
                and not self.compiled.literal_execute_params:
            return self._expanded_positional(values)
        if self.expanding:
            state = self.compiled.construct_expanded_state(values)
            # The state's processors are those of the expanded values only.
            binds = [(name, process) for name, process in (*self.binds,
                                                            *state.processors.items())
                     if name in state.parameters]
            sql, params, positions = (state.statement, dict(state.parameters),
                                      state.positiontup)
        else:
            sql, params, binds, positions = (self.sql, self.compiled.construct_params(values),
                                             self.binds, self.positions)
        for name, process in binds:
            params[name] = process(params[name])
        if positions is None:
            return sql, params
        return sql, tuple(params[name] for name in positions)

    def _expanded_positional(self, values: dict) -> tuple[str, tuple]:
        """The SQL and positional parameters of an execution whose IN lists have these
        lengths: SQLAlchemy expands the statement once per set of lengths, then each
        execution only lays its values out in that order."""
        params = self.compiled.construct_params(values)
        lengths = tuple(len(params[name]) for name in self.lists)
        layout = self.layouts.get(lengths)
        if layout is None:
            state = self.compiled.construct_expanded_state(values)
            expanded = {new: (name, index) for name, names in state.parameter_expansion.items()
                        for index, new in enumerate(names)}
            processors = {**dict(self.binds), **state.processors}
            layout = self.layouts[lengths] = (state.statement, tuple(
                (*expanded.get(name, (name, None)), processors.get(name, _AS_IS))
                for name in state.positiontup))
        sql, slots = layout
        return sql, tuple(process(params[name] if index is None else params[name][index])
                          for name, index, process in slots)

    def row_columns(self, column_keys: tuple[str, ...]) -> list | None:
        """(key, bind processor) of each positional parameter of an INSERT whose only
        parameters are the row's values, in order; None when it has others or named
        parameters (one multi-row statement then cannot carry the rows)."""
        if (self.positions is None or self.expanding
                or sorted(self.positions) != sorted(column_keys)):
            return None
        processors = dict(self.binds)
        return [(name, processors.get(name, _AS_IS)) for name in self.positions]

    def rows(self, cursor) -> list:
        fetched = cursor.fetchall()
        if not self.results:
            return [self.row._make(row) for row in fetched]
        made = []
        for row in fetched:
            row = list(row)
            for index, process in self.results:
                row[index] = process(row[index])
            made.append(self.row._make(row))
        return made


class Executed:
    """The rows (all fetched) and row count of a prepared statement's execution."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator:
        return iter(self._rows)

    def all(self) -> list:
        return self._rows

    def first(self):
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise exc.NoResultFound("No row was found when one was required") \
                if not self._rows else exc.MultipleResultsFound("Multiple rows were found")
        return self._rows[0][0]

    def scalars(self) -> list:
        return [row[0] for row in self._rows]


_PREPARED: dict[tuple, _Prepared | None] = {}


def run(connection: Connection, statement, values: dict):
    """``connection.execute(statement, values)`` for a prebuilt statement (a module constant
    or a ``prebuilt`` shape) and one set of values, on the driver's cursor when the
    statement allows: the hot paths' few statements per call.

    Listeners of ``before_cursor_execute`` and ``after_cursor_execute`` (the tests'
    checks of every statement, tracing) are told of it as of any statement, with the
    compiled statement as the context's ``compiled``; they cannot change it (``retval``
    is not honoured). Driver errors come out as SQLAlchemy's (IntegrityError and the
    others, the driver's error as ``orig``), so callers and the unit of work classify
    them as before.
    """
    dialect = connection.dialect
    # An INSERT or UPDATE sets the columns its values name: one compilation per set.
    prepared = _prepared(statement, dialect, tuple(values) if statement.is_dml else None)
    if prepared is None:
        return connection.execute(statement, values)
    sql, parameters = prepared.sql_and_parameters(values)
    return _execute(connection, prepared, sql, parameters)


def streamed(connection: Connection, query) -> Iterator[Row]:
    """The rows of ``query`` fetched 5,000 at a time (on PostgreSQL through a server-side
    cursor, which needs a transaction: a read-only unit of work running in autocommit
    opens one here, and its end rolls it back)."""
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        if driver.autocommit:
            driver.autocommit = False
    return iter(connection.execution_options(yield_per=5000).execute(query))


#: Prepared statements are kept for prebuilt statements only, which are few: past this
#: many, a statement built per call (a mistake) runs through SQLAlchemy, not kept forever.
_MAX_PREPARED = 500


def _prepared(statement, dialect, column_keys: tuple[str, ...] | None) -> _Prepared | None:
    key = (id(statement), dialect.name, column_keys)
    try:
        return _PREPARED[key]
    except KeyError:
        if len(_PREPARED) >= _MAX_PREPARED:
            return None
        prepared = _Prepared(statement, dialect, column_keys)
        prepared = _PREPARED[key] = prepared if prepared.eligible() else None
        return prepared


def _execute(connection: Connection, prepared: _Prepared, sql: str, parameters) -> Executed:
    dialect = connection.dialect
    cursor = connection.connection.driver_connection.cursor()
    told = connection._has_events or connection.engine._has_events
    try:
        if told:
            _tell(connection.dispatch.before_cursor_execute, connection, cursor, sql,
                  parameters, prepared.compiled)
        cursor.execute(sql, parameters)
        if told:
            _tell(connection.dispatch.after_cursor_execute, connection, cursor, sql,
                  parameters, prepared.compiled)
        rows = prepared.rows(cursor) if prepared.row is not None else []
        return Executed(rows, cursor.rowcount)
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, connection.connection, cursor):
            # As SQLAlchemy does: the pool's older connections are likely gone too.
            connection.engine.pool._invalidate(connection.connection, error)
            connection.invalidate(error)
        raise exc.DBAPIError.instance(sql, parameters, error,
                                      dialect.loaded_dbapi.Error) from error
    finally:
        cursor.close()


class _Told:
    """What a statement listener is given as the execution context of a prepared statement."""

    __slots__ = ("compiled",)

    def __init__(self, compiled) -> None:
        self.compiled = compiled


def fetched(connection: Connection, statement, values: dict, size: int = 5000) -> Iterator:
    """The rows of a long SELECT whose columns need no result processing (text(), or
    columns of plain types), straight from the driver's cursor ``size`` at a time:
    tuples, streamed. Statement listeners are told of it as of any statement; driver
    errors come out as SQLAlchemy's."""
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    sql, parameters = compiled.string, compiled.construct_params(values)
    if compiled.positional:
        parameters = tuple(parameters[name] for name in compiled.positiontup)
    cursor = connection.connection.driver_connection.cursor()
    try:
        if connection._has_events or connection.engine._has_events:
            _tell(connection.dispatch.before_cursor_execute, connection, cursor, sql,
                  parameters, compiled)
        try:
            cursor.execute(sql, parameters)
            while batch := cursor.fetchmany(size):
                yield from batch
        except dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(sql, parameters, error,
                                          dialect.loaded_dbapi.Error) from error
    finally:
        cursor.close()


def _tell(listeners, connection: Connection, cursor, sql: str, parameters, compiled) -> None:
    context = _Told(compiled)
    for listener in listeners:
        listener(connection, cursor, sql, parameters, context, False)


def run_rows(connection: Connection, statement, rows: list[dict]):
    """An INSERT of many rows (each with the same columns) as one multi-row statement on
    the driver's cursor where the driver takes it as one (SQLite's positional
    parameters), or through ``run`` for a single row; elsewhere SQLAlchemy's
    executemany (its own multi-row INSERT .. RETURNING). Rows a RETURNING gives back
    come in no particular order: callers match them by a returned column."""
    if len(rows) == 1:
        return run(connection, statement, rows[0])
    dialect = connection.dialect
    column_keys = tuple(rows[0])
    prepared = _prepared(statement, dialect, column_keys)
    if prepared is not None and statement.is_insert and dialect.name == "postgresql":
        recordset = _recordset(prepared, statement, dialect)
        if recordset is not None:
            sql, columns = recordset
            return _execute(connection, prepared, sql, {"rows": json.dumps(
                [{key: convert(row[key]) for key, convert in columns} for row in rows])})
    columns = prepared.row_columns(column_keys) if prepared is not None else None
    if columns is None or not statement.is_insert:
        return connection.execute(statement, rows)
    single = " VALUES (" + ", ".join("?" * len(columns)) + ")"
    if dialect.paramstyle != "qmark" or single not in prepared.sql:
        return connection.execute(statement, rows)
    sql = prepared.sql.replace(single, single + (", " + single[8:]) * (len(rows) - 1), 1)
    parameters = [process(row[key]) for row in rows for key, process in columns]
    return _execute(connection, prepared, sql, parameters)


#: The VALUES group of a one-row INSERT: placeholders, each with the cast psycopg's
#: dialect may add (``%(email)s::VARCHAR``), and nothing else.
_PLACEHOLDER = r"%\((\w+)\)s(?:::[A-Z][A-Z ]*(?:\(\d+\))?)?"
_VALUES = re.compile(rf" VALUES \(({_PLACEHOLDER}(?:, {_PLACEHOLDER})*)\)")
_LENGTH = re.compile(r"\(\d+\)")
_RECORDSETS: dict[int, tuple[str, list] | None] = {}


def _recordset(prepared: _Prepared, statement, dialect) -> tuple[str, list] | None:
    """On PostgreSQL, a multi-row INSERT as one statement taking all its rows as one JSON
    document (``INSERT .. SELECT r.a::T, .. FROM json_to_recordset(%(rows)s::json) AS
    r(a text, ..)``), with (key, converter to a JSON value) of each column; None for an
    INSERT of another form or with a column of another type.

    SQLAlchemy's executemany writes the rows into a new SQL text per batch (a VALUES
    group a row), which psycopg then parses for its placeholders; arrays a column are
    each dumped value by value in Python. Both were most of a bulk call's time on
    PostgreSQL. Here the SQL is the same for any number of rows (PostgreSQL keeps it
    prepared), and the rows are one ``json.dumps``, in C. Each value is what
    SQLAlchemy's bind processing makes of it (a JSON column's document, written by the
    engine's serializer; a date-time in UTC), spelled as text that the column's type
    reads back exactly; the casts leave out lengths, so that a value too long for its
    column is refused by the column as before, not cut short by a cast."""
    key = id(prepared)
    try:
        return _RECORDSETS[key]
    except KeyError:
        pass
    found = None
    values = _VALUES.search(prepared.sql)
    names = re.findall(r"%\((\w+)\)s", values.group(1)) if values else []
    table = getattr(statement, "table", None)
    if values and table is not None and prepared.sql.count("%(") == len(names) \
            and all(name in table.c for name in names):
        processors = dict(prepared.binds)
        quote = dialect.identifier_preparer.quote
        columns, converters = [], []
        for name in names:
            kind = _json_kind(table.c[name].type)
            if kind is None:
                break
            sql_type = _LENGTH.sub("", table.c[name].type.compile(dialect=dialect))
            field = f"r.{quote(name)}"
            columns.append(f"decode({field}, 'hex')" if kind == "bytes"
                           else f"{field}::{sql_type}")
            converters.append((name, _to_json_value(kind, processors.get(name), dialect)))
        else:
            fields = ", ".join(f"{quote(name)} text" for name in names)
            found = (prepared.sql.replace(
                values.group(0), f" SELECT {', '.join(columns)} FROM "
                f"json_to_recordset(%(rows)s::json) AS r({fields})", 1), converters)
    _RECORDSETS[key] = found
    return found


def _json_kind(column_type) -> str | None:
    column_type = getattr(column_type, "impl_instance", column_type)
    if isinstance(column_type, sqltypes.JSON):
        return "json"
    if isinstance(column_type, sqltypes.DateTime):
        return "datetime"
    if isinstance(column_type, sqltypes.LargeBinary):
        return "bytes"
    if isinstance(column_type, (sqltypes.Integer, sqltypes.String, sqltypes.Boolean)):
        return "plain"
    return None


def _to_json_value(kind: str, process: Callable | None, dialect) -> Callable:
    """The converter of one column's values to what its text in the document is."""
    if kind == "json":
        dumps = dialect._json_serializer or json.dumps
        return lambda value: dumps(value)   # None too: JSON's None is the document null
    if kind == "bytes":
        return lambda value: None if value is None else bytes(value).hex()
    if kind == "datetime":
        process = process or _AS_IS
        # The last moment converted, with its text: the rows of a bulk statement carry
        # the same moment (the call's "now") hundreds of times. One tuple, swapped whole,
        # as in UTCDateTime's SQLite processor: the converter is kept with the statement,
        # and threads sharing it never pair one moment with another's text.
        last: tuple = (None, None)

        def moment(value):
            nonlocal last
            seen, text = last
            if value is seen:
                return text
            text = None if value is None else process(value).isoformat()
            last = (value, text)
            return text
        return moment
    return process or _AS_IS


def chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


_FIELDS: dict[type, tuple[str, ...]] = {}


def as_record(cls: type[R], row: Row) -> R:
    """The record ``cls`` of a row (extra columns of the row are left out)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return cls(*(getattr(row, name) for name in names))


#: Rows one statement must add before the tables they refer to may need measuring: fewer
#: read no catalog.
MEASURE_AFTER = 100

_UNDERMEASURED = text("SELECT relname FROM pg_class WHERE oid = ANY(CAST(:names AS regclass[])) "
                      "AND reltuples < :added ORDER BY relname")


def measure_if_outgrown(connection: Connection, tables: tuple[str, ...], added: int) -> None:
    """On PostgreSQL, ANALYZE those of ``tables`` whose last measure (never: -1) counted
    fewer rows than the ``added`` rows just written, inside the current transaction (whose
    own new rows ANALYZE counts).

    A bulk call on a new database otherwise grew quadratic: the plans PostgreSQL keeps for
    the foreign-key check of each inserted row (and for prepared statements) are made
    from what it last measured, and for an unmeasured or tiny table an index that leads
    with account_id alone costs what the primary key (account_id, id) does, or a scan of
    the table costs less: each check then read every row of the account, 10,000
    invitations in one call took 34 s instead of 2, and autovacuum measures only after
    its next pause (a minute). ANALYZE sends the invalidation that makes every session
    plan again, from a size at which the key wins. A table measured at more rows than a
    statement adds is left alone: one catalog read per bulk statement."""
    if added < MEASURE_AFTER or connection.dialect.name != "postgresql":
        return
    outgrown = connection.execute(_UNDERMEASURED, {"names": list(tables),
                                                    "added": added}).scalars().all()
    if outgrown:
        quote = connection.dialect.identifier_preparer.quote
        connection.exec_driver_sql(f"ANALYZE {', '.join(quote(name) for name in outgrown)}")


class Repository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _purge(self, table, expired, limit: int) -> int:
        """Delete up to ``limit`` rows of ``table`` matching ``expired``, account by account
        (each DELETE touches one account's rows); how many were deleted."""
        deleted = 0
        for account_id in self.connection.execute(
                select(table.c.account_id).where(expired).distinct()
                .order_by(table.c.account_id).limit(limit)).scalars():
            deleted += self._purge_of(table, account_id, expired, limit - deleted)
            if deleted == limit:
                break
        return deleted

    def _purge_of(self, table, account_id: int, expired, limit: int) -> int:
        mine = table.c.account_id == account_id
        ids = select(table.c.id).where(mine, expired).order_by(table.c.id).limit(limit)
        return self.connection.execute(table.delete().where(
            mine, table.c.id.in_(ids.scalar_subquery()))).rowcount

    def _one(self, statement) -> Row | None:
        return self.connection.execute(statement).first()

    def _record(self, cls: type[R], statement) -> R | None:
        """The first row of ``statement`` as a ``cls`` record, or None."""
        row = self.connection.execute(statement).first()
        return as_record(cls, row) if row is not None else None

    def _records(self, cls: type[R], statement) -> list[R]:
        return [as_record(cls, row) for row in self.connection.execute(statement)]


def insert_ignoring_conflicts(connection: Connection, table):
    return insert_of(connection.dialect.name, table)


def insert_of(dialect: str, table):
    """The INSERT of ``dialect`` (which has ON CONFLICT clauses)."""
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
