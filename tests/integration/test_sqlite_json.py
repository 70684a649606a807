"""JSON columns on SQLite: stored as json.dumps writes them, read back as new objects."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, select, text

DOCUMENTS = [{}, [], {"région": "nord", "n": [1, 2.5, None]}, ["é", {}], "text", 7, None]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_documents_are_stored_as_json_dumps_writes_them_and_read_back_alike(engine):
    metadata = MetaData()
    table = Table("documents", metadata, Column("id", Integer, primary_key=True),
                  Column("document", JSON))
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"id": i, "document": d}
                                            for i, d in enumerate(DOCUMENTS)])
        stored = connection.execute(text(
            "SELECT CAST(document AS TEXT) FROM documents ORDER BY id")).scalars()
        assert list(stored) == [json.dumps(d) for d in DOCUMENTS]
        read = list(connection.execute(select(table.c.document).order_by(table.c.id)).scalars())
        assert read == DOCUMENTS
        again = list(connection.execute(select(table.c.document).order_by(table.c.id)).scalars())
    # an empty document is a new one each time it is read: filling one changes no other
    read[0]["filled"] = True
    read[1].append("filled")
    assert (again[0], again[1]) == ({}, []) and again[0] is not read[0]
