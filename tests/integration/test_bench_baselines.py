"""The bare baselines of bench/run.py do what its ratios assume: each call succeeds, and the
writing variants store exactly one durable row per call."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from webtest import TestApp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import baselines  # noqa: E402
from run import FORM_HEADERS, SOAP_HEADERS, XMLRPC_HEADERS, add_one_rpc, add_one_soap  # noqa: E402

REQUESTS = {"spyne": (add_one_soap(7), SOAP_HEADERS), "xmlrpc": (add_one_rpc(7), XMLRPC_HEADERS),
            "raw": ("_csrf=x&nps=7&n={n}", FORM_HEADERS)}


@pytest.mark.parametrize("variant", ["raw", "raw-insert", "spyne", "spyne-insert", "xmlrpc",
                                     "xmlrpc-insert"])
def test_each_baseline_call_succeeds_and_the_writing_ones_store_one_row_each(variant,
                                                                          database_url):
    baselines.Store.create_table(database_url)
    app = baselines.create_app(variant, database_url)
    body, headers = REQUESTS[variant.split("-")[0]]
    content_type = headers[0].split(": ", 1)[1]
    try:
        for n in ("first", "second"):
            answer = TestApp(app).post("/", body.replace("{n}", n).encode(),
                                       headers={"Content-Type": content_type})
            assert answer.status_int == 200
            assert b"ault" not in answer.body
        if app.store is None:
            assert not variant.endswith("-insert")
            return
        with app.store.engine.connect() as connection:
            stored = connection.execute(select(baselines.rows.c.event_id).order_by(
                baselines.rows.c.id)).scalars().all()
        if variant == "raw-insert":  # a form post carries no event id: the row gets its own
            assert len(stored) == 2
        else:
            assert stored == ["first", "second"]
    finally:
        if app.store:
            app.store.engine.dispose()
