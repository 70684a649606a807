"""The WSGI application: every door behind one callable, composed from settings.

gunicorn runs ``service.wsgi:create_app()`` in each worker after the fork, so
no database connection is ever shared between processes.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable, Iterable

from sqlalchemy import text
from werkzeug.wrappers import Request, Response

from service.config import Settings
from service.services import Runtime
from service.services.runtime import utc_now
from service.soap import create_soap_app
from service.storage.atomic import DumpStore
from service.storage.engine import make_engine
from service.storage.uow import SqlUnitOfWork
from service.web.dashboard import create_dashboard_app
from service.web.exports import create_exports_app
from service.web.survey_page import create_survey_app
from service.web.toolkit import WSGIApp, json_response, text_response, wsgi_app
from service.web.unsubscribe import create_unsubscribe_app
from service.xmlrpc import create_xmlrpc_app

log = logging.getLogger("feedloop")


def create_app(settings: Settings | None = None,
               clock: Callable[[], datetime] = utc_now) -> WSGIApp:
    """Compose the doors (/soap, /xmlrpc, /RPC2, /healthz) onto one runtime."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    rt = Runtime(uow=lambda read_only=False: SqlUnitOfWork(engine, read_only),
                 secret_key=settings.secret_key, base_url=settings.base_url, clock=clock,
                 dump_store=DumpStore(settings.data_dir / "dumps"))
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
        return (app or _NOT_FOUND)(environ, start_response)


_NOT_FOUND = wsgi_app(lambda request: text_response("Not found.\n", 404), "router")


def _health(engine) -> WSGIApp:
    def health(request: Request) -> Response:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # an operator needs a 503, not a traceback
            log.exception("health check: database unreachable")
            return json_response({"status": "error", "database": "unreachable"}, 503)
        return json_response({"status": "ok", "database": "ok"})

    return wsgi_app(health, "health check")
