"""GET /exports/responses.{csv,jsonl,xml}[.gz]?campaign=ID&after=CURSOR — streamed dumps — and
/exports/files/<name> — scheduled dump files and their manifests (scope read)."""
from __future__ import annotations

import re

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from service.domain.errors import NotFound, ValidationError
from service.services import Runtime
from service.services.dumps import dump_chunks, dump_rows, open_dump_file, plan_dump
from service.web.toolkit import NO_SNIFF, WSGIApp, authenticated, query, wsgi_app

_PATH = re.compile(r"^/exports/responses\.(csv|jsonl|xml)(\.gz)?$")
_FILE_NAME = re.compile(r"^campaign-\d+-\d{8}T\d{6}Z\.(csv|jsonl|xml)(\.gz)?(\.manifest\.json)?$")
_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8",
          "xml": "application/xml; charset=utf-8"}
_CHUNK = 256 * 1024


def create_exports_app(rt: Runtime) -> WSGIApp:
    """The WSGI application of /exports/: dumps streamed with memory that does not grow."""

    def exports(request: Request) -> Response:
        if request.method == "GET" and request.path.startswith("/exports/files/"):
            return _file(request, request.path.removeprefix("/exports/files/"))
        match = _PATH.match(request.path)
        if request.method != "GET" or match is None:
            raise NotFound("Use GET /exports/responses.csv|jsonl|xml[.gz]?campaign=ID&after=C.")
        fmt, compress = match.group(1), bool(match.group(2))
        principal = authenticated(rt, request, "read")
        last = {name: given[-1] for name, given in query(request).items()}
        if not last.get("campaign", "").isdigit():
            raise ValidationError("Give the campaign: ?campaign=ID.", field="campaign")
        plan = plan_dump(rt, principal, int(last["campaign"]), last.get("after"),
                         columns=fmt == "csv")
        name = f"responses-{plan.campaign_id}-{plan.after}-{plan.upto}.{fmt}" + \
            (".gz" if compress else "")
        # A generator body: rows are read from the database as the client takes them.
        return Response(dump_chunks(plan, dump_rows(rt, plan, fmt), fmt, compress),
                        content_type="application/gzip" if compress else _TYPES[fmt],
                        direct_passthrough=True, headers={
                            "Content-Disposition": f'attachment; filename="{name}"',
                            "X-Feedloop-Rows": str(plan.rows),
                            "X-Feedloop-Cursor-From": str(plan.after),
                            # Pass this as ?after= next time: every response committed
                            # later follows it.
                            "X-Feedloop-Cursor-To": str(plan.upto),
                            "Cache-Control": "no-store", **NO_SNIFF})

    def _file(request: Request, name: str) -> Response:
        principal = authenticated(rt, request, "read")
        stored = open_dump_file(rt, principal, name) if _FILE_NAME.match(name) else None
        if stored is None:
            raise NotFound("No such dump file in your account; ListDumps lists them.")
        kind = "application/json" if name.endswith(".json") else \
            "application/gzip" if name.endswith(".gz") else _TYPES[name.rsplit(".", 1)[-1]]
        # Streamed from the store (a file here, or an object any node reads).
        return Response(wrap_file(request.environ, stored.stream, _CHUNK), content_type=kind,
                        direct_passthrough=True, headers={
                            "Content-Length": str(stored.size),
                            "Content-Disposition": f'attachment; filename="{name}"',
                            **NO_SNIFF})

    return wsgi_app(exports, "exports")
