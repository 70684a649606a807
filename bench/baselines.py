"""Bare baselines for bench/run.py: what the frameworks alone allow, as one WSGI module.

gunicorn loads ``baselines:application`` (with ``--pythonpath bench``) under the
very config of `feedloop serve` (service/gunicorn_conf.py). BENCH_VARIANT picks
the application, BENCH_DATABASE_URL the database of the variants that write:

- ``raw``: a raw WSGI app answering a fixed SOAP envelope;
- ``raw-insert``: a raw WSGI app doing one durable insert per request;
- ``spyne`` / ``spyne-insert``: Spyne, Soap11(validator="lxml") in, Soap11 out,
  namespace urn:feedloop:v1, one doc/literal operation shaped like a single-row
  AddRespondents (campaign_id and respondents with email and event_id);
- ``xmlrpc`` / ``xmlrpc-insert``: the stdlib SimpleXMLRPCDispatcher with
  ``feedloop.add_respondents`` taking the same struct, in a WSGI wrapper.

One durable insert goes through SQLAlchemy Core on an engine from feedloop's own
make_engine: on SQLite that is WAL, the busy timeout and BEGIN IMMEDIATE taken with
feedloop's short retries, but ``synchronous=FULL`` (``group_commit=False``): the
baseline is what a framework gets from one durable commit as SQLite makes it, and
group commit (the log flushed after the lock is released) is feedloop's own work
for its writes, measured against it.
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterable
from xmlrpc.server import SimpleXMLRPCDispatcher

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service.storage.engine import make_engine  # noqa: E402

TNS = "urn:feedloop:v1"
ENVELOPE = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/" '
            b'xmlns:tns="urn:feedloop:v1"><soap11env:Body><tns:AddRespondentsResponse>'
            b'<tns:AddRespondentsResult><tns:results><tns:row>0</tns:row>'
            b'<tns:status>scheduled</tns:status><tns:invitation_id>1</tns:invitation_id>'
            b'</tns:results><tns:scheduled>1</tns:scheduled></tns:AddRespondentsResult>'
            b'</tns:AddRespondentsResponse></soap11env:Body></soap11env:Envelope>')

metadata = MetaData()
#: The one row a write variant stores per request; event_id is unique, as feedloop's are.
rows = Table("bench_rows", metadata,
             Column("id", Integer, primary_key=True),
             Column("campaign_id", Integer, nullable=False),
             Column("email", String(320), nullable=False),
             Column("event_id", String(200), nullable=False, unique=True),
             Column("created_at", DateTime(timezone=True), nullable=False,
                    server_default=func.current_timestamp()))


class Store:
    """One durable insert per call, in its own transaction."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, group_commit=False)
        self.insert = rows.insert()

    @staticmethod
    def create_table(url: str) -> None:
        """Create the table once, before gunicorn starts: its workers would race to."""
        engine = make_engine(url, group_commit=False)
        metadata.create_all(engine)
        engine.dispose()

    def add(self, campaign_id: int, email: str, event_id: str) -> int:
        with self.engine.begin() as connection:
            return connection.execute(self.insert, {"campaign_id": campaign_id, "email": email,
                                                    "event_id": event_id}).inserted_primary_key[0]


def raw_app() -> Callable:
    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        _read_body(environ)
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                  ("Content-Length", str(len(ENVELOPE)))])
        return [ENVELOPE]
    return application


def raw_insert_app(store: Store) -> Callable:
    page = b"<!doctype html><title>Thanks</title><p>Thank you.</p>"

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = _read_body(environ)
        store.add(0, f"{len(body)}@example.com", uuid.uuid4().hex)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(page)))])
        return [page]
    return application


def spyne_app(store: Store | None) -> Callable:
    from spyne import Application, ComplexModel, Integer32, Service, Unicode, rpc
    from spyne.protocol.soap import Soap11
    from spyne.server.wsgi import WsgiApplication

    class Respondent(ComplexModel):
        __namespace__ = TNS
        _type_info = [("email", Unicode(max_len=320, min_occurs=1)),
                      ("event_id", Unicode(max_len=200))]

    class RespondentResult(ComplexModel):
        __namespace__ = TNS
        _type_info = [("row", Integer32), ("status", Unicode), ("invitation_id", Integer32)]

    class AddRespondentsResult(ComplexModel):
        __namespace__ = TNS
        _type_info = [("results", RespondentResult.customize(max_occurs="unbounded")),
                      ("scheduled", Integer32)]

    class BareService(Service):
        @rpc(Integer32(min_occurs=1), Respondent.customize(min_occurs=1, max_occurs=10_000),
             _returns=AddRespondentsResult)
        def AddRespondents(ctx, campaign_id, respondents):  # noqa: N802 (the wire name)
            """Store one row per respondent (when the variant writes)."""
            results = []
            for row, respondent in enumerate(respondents):
                invitation_id = store.add(campaign_id, respondent.email, respondent.event_id) \
                    if store else row + 1
                results.append(RespondentResult(row=row, status="scheduled",
                                                invitation_id=invitation_id))
            return AddRespondentsResult(results=results, scheduled=len(results))

    application = Application([BareService], tns=TNS, name="bare",
                              in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    return WsgiApplication(application)


def xmlrpc_app(store: Store | None) -> Callable:
    dispatcher = SimpleXMLRPCDispatcher(allow_none=False, encoding="utf-8")

    def add_respondents(request: dict) -> dict:
        results = []
        for row, respondent in enumerate(request["respondents"]):
            invitation_id = store.add(request["campaign_id"], respondent["email"],
                                      respondent["event_id"]) if store else row + 1
            results.append({"row": row, "status": "scheduled", "invitation_id": invitation_id})
        return {"results": results, "scheduled": len(results)}

    dispatcher.register_function(add_respondents, "feedloop.add_respondents")

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        data = dispatcher._marshaled_dispatch(_read_body(environ))
        start_response("200 OK", [("Content-Type", "text/xml"),
                                  ("Content-Length", str(len(data)))])
        return [data]
    return application


def _read_body(environ: dict) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def create_app(variant: str, database_url: str | None) -> Callable:
    """The baseline ``variant``; the ``-insert`` ones write to ``database_url``."""
    base, _, insert = variant.partition("-")
    store = Store(database_url) if insert else None
    makers = {"raw": lambda: raw_insert_app(store) if store else raw_app(),
              "spyne": lambda: spyne_app(store), "xmlrpc": lambda: xmlrpc_app(store)}
    if base not in makers:
        raise ValueError(f"unknown baseline variant {variant!r}")
    app = makers[base]()
    app.store = store
    return app


if "BENCH_VARIANT" in os.environ:
    application = create_app(os.environ["BENCH_VARIANT"], os.environ.get("BENCH_DATABASE_URL"))
