"""What every repository shares: the connection, IN lists, chunking, inserts that skip conflicts."""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterator, TypeVar

from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

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
