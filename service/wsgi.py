"""The WSGI application: every door behind one callable, composed from settings.

gunicorn runs ``service.wsgi:create_app()`` in each worker after the fork, so
no database connection is ever shared between processes.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Callable, Iterable

from sqlalchemy import text

from service.config import Settings
from service.services import Runtime
from service.services.runtime import utc_now
from service.startup import require_secret
from service.storage.engine import make_engine
from service.storage.uow import SqlUnitOfWork

log = logging.getLogger("feedloop")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def create_app(settings: Settings | None = None,
               clock: Callable[[], datetime] = utc_now) -> WSGIApp:
    """Compose the doors (/soap, /xmlrpc, /RPC2, /healthz) onto one runtime."""
    from service.soap import create_soap_app
    from service.web.dashboard import create_dashboard_app
    from service.web.exports import create_exports_app
    from service.web.survey_page import create_survey_app
    from service.web.unsubscribe import create_unsubscribe_app
    from service.xmlrpc import create_xmlrpc_app

    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    rt = Runtime(uow=lambda read_only=False: SqlUnitOfWork(engine, read_only),
                 secret_key=require_secret(settings), base_url=settings.base_url, clock=clock,
                 data_dir=settings.data_dir)
    xmlrpc = create_xmlrpc_app(rt)
    survey_pages = create_survey_app(rt)
    routes: dict[str, WSGIApp] = {
        "/soap": create_soap_app(rt),
        "/xmlrpc": xmlrpc,
        "/RPC2": xmlrpc,
        "/healthz": _health(engine),
        "/exports/": create_exports_app(rt),
        "/u/": create_unsubscribe_app(rt),
        "/dashboard/": create_dashboard_app(rt),
        "/s/": survey_pages,
        "/o/": survey_pages,
        "/static/": survey_pages,
    }
    app = Router(routes)
    app.runtime = rt
    app.engine = engine
    return app


class Router:
    """Dispatch on the exact path, or on a prefix ending in '/'; anything else is a 404."""

    def __init__(self, routes: dict[str, WSGIApp]) -> None:
        self.routes = routes
        self.prefixes = sorted((p for p in routes if p.endswith("/")), key=len, reverse=True)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        app = self.routes.get(path) or next(
            (self.routes[p] for p in self.prefixes if path.startswith(p)), None)
        if app is None:
            return plain(start_response, "404 Not Found", "Not found.\n")
        return app(environ, start_response)


def plain(start_response: Callable, status: str, body: str,
          content_type: str = "text/plain; charset=utf-8") -> list[bytes]:
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))),
                            ("X-Content-Type-Options", "nosniff")])
    return [data]


def _health(engine) -> WSGIApp:
    def health(environ: dict, start_response: Callable) -> list[bytes]:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            status, report = "200 OK", {"status": "ok", "database": "ok"}
        except Exception:  # an operator needs a 503, not a traceback
            log.exception("health check: database unreachable")
            status, report = "503 Service Unavailable", {"status": "error",
                                                          "database": "unreachable"}
        return plain(start_response, status, json.dumps(report) + "\n", "application/json")

    return health
