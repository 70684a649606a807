"""GET /exports/responses.{csv,jsonl,xml}[.gz]?campaign=ID&after=CURSOR — streamed dumps — and
/exports/files/<name> — scheduled dump files and their manifests (scope read)."""
from __future__ import annotations

import json
import logging
import re
from typing import Callable, Iterable
from urllib.parse import parse_qs

from service.domain.errors import DomainError, ValidationError
from service.http.request import basic_credentials
from service.services import Runtime
from service.services.dumps import dump_chunks, dump_file_path, plan_dump, records
from service.services.keys import authenticate

log = logging.getLogger("feedloop.web")

_PATH = re.compile(r"^/exports/responses\.(csv|jsonl|xml)(\.gz)?$")
_FILE_NAME = re.compile(r"^campaign-\d+-\d{8}T\d{6}Z\.(csv|jsonl|xml)(\.gz)?(\.manifest\.json)?$")
_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8",
          "xml": "application/xml; charset=utf-8"}
_STATUS = {"Unauthorized": "401 Unauthorized", "Forbidden": "403 Forbidden",
           "TooManyRequests": "429 Too Many Requests", "NotFound": "404 Not Found",
           "UnknownCampaign": "404 Not Found"}


def create_exports_app(rt: Runtime) -> Callable:
    """The WSGI application of /exports/: dumps streamed with memory that does not grow."""

    def exports(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/exports/files/") and environ.get("REQUEST_METHOD", "GET") == "GET":
            return _file(environ, start_response, path.removeprefix("/exports/files/"))
        match = _PATH.match(path)
        if environ.get("REQUEST_METHOD", "GET") != "GET" or match is None:
            return _error(start_response, "404 Not Found", "NotFound",
                          "Use GET /exports/responses.csv|jsonl|xml[.gz]?campaign=ID&after=C.")
        fmt, compress = match.group(1), bool(match.group(2))
        try:
            principal = authenticate(rt, basic_credentials(environ), environ.get("REMOTE_ADDR"))
            principal.require("read")
            query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            if not query.get("campaign", "").isdigit():
                raise ValidationError("Give the campaign: ?campaign=ID.", field="campaign")
            plan = plan_dump(rt, principal, int(query["campaign"]), query.get("after"))
        except DomainError as error:
            headers = [("WWW-Authenticate", 'Basic realm="feedloop"')] \
                if error.code == "Unauthorized" else []
            return _error(start_response, _STATUS.get(error.code, "400 Bad Request"),
                          error.code, error.message, headers)
        name = f"responses-{plan.campaign_id}-{plan.after}-{plan.upto}.{fmt}" + \
            (".gz" if compress else "")
        start_response("200 OK", [
            ("Content-Type", "application/gzip" if compress else _TYPES[fmt]),
            ("Content-Disposition", f'attachment; filename="{name}"'),
            ("X-Feedloop-Rows", str(plan.rows)),
            ("X-Feedloop-Cursor-From", str(plan.after)),
            # Pass this as ?after= next time: every response committed later follows it.
            ("X-Feedloop-Cursor-To", str(plan.upto)),
            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
        return dump_chunks(plan, records(rt, plan), fmt, compress)

    def _file(environ: dict, start_response: Callable, name: str) -> Iterable[bytes]:
        try:
            principal = authenticate(rt, basic_credentials(environ), environ.get("REMOTE_ADDR"))
            principal.require("read")
        except DomainError as error:
            return _error(start_response, _STATUS.get(error.code, "400 Bad Request"),
                          error.code, error.message)
        path = dump_file_path(rt, principal, name) if _FILE_NAME.match(name) else None
        if path is None or not path.is_file():
            return _error(start_response, "404 Not Found", "NotFound",
                          "No such dump file in your account; ListDumps lists them.")
        kind = "application/json" if name.endswith(".json") else \
            "application/gzip" if name.endswith(".gz") else _TYPES[name.rsplit(".", 1)[-1]]
        start_response("200 OK", [("Content-Type", kind), ("Content-Length",
                                                            str(path.stat().st_size)),
                                  ("Content-Disposition", f'attachment; filename="{name}"'),
                                  ("X-Content-Type-Options", "nosniff")])
        handle = open(path, "rb")
        return environ.get("wsgi.file_wrapper", _chunks)(handle, 256 * 1024)

    return exports


def _chunks(handle, size: int) -> Iterable[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk


def _error(start_response: Callable, status: str, code: str, message: str,
           headers: list[tuple[str, str]] = ()) -> list[bytes]:
    body = json.dumps({"error": code, "message": message}).encode() + b"\n"
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))), *headers])
    return [body]
