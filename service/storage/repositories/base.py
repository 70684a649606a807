"""What every repository shares: the connection, IN lists, chunking, inserts that skip conflicts."""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

#: Rows per IN (...) list or multi-row statement: well inside every backend's limits.
CHUNK = 500


def among(connection: Connection, column, values: list):
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of hundreds."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Repository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _one(self, statement) -> Row | None:
        return self.connection.execute(statement).first()


def insert_ignoring_conflicts(connection: Connection, table):
    if connection.dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)
