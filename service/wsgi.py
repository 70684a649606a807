"""The WSGI application: every door behind one callable, composed from settings.

gunicorn runs ``service.wsgi:create_app()`` in each worker after the fork, so
no database connection is ever shared between processes.
"""
from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from werkzeug.wrappers import Request, Response

from service.config import Settings
from service.domain.destinations import Destinations
from service.services import Runtime
from service.services.backlog import read_backlog
from service.services.runtime import utc_now
from service.soap import create_soap_app
from service.startup import open_replica_engine, require_secret
from service.storage.objects import make_dump_store
from service.storage.engine import make_engine
from service.storage.migrations import schema_state
from service.storage.uow import units_of_work
from service.telemetry import observe_request, render_metrics
from service.web.dashboard import create_dashboard_app
from service.web.exports import create_exports_app
from service.web.people import create_people_app
from service.web.survey_page import create_survey_app
from service.web.toolkit import WSGIApp, json_response, text_response, wsgi_app
from service.web.unsubscribe import create_unsubscribe_app
from service.xmlrpc import create_xmlrpc_app

log = logging.getLogger("feedloop")


def create_app(settings: Settings | None = None,
               clock: Callable[[], datetime] = utc_now) -> WSGIApp:
    """Compose the doors, pages and probes (/healthz, /readyz, /metrics) onto one runtime."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url, **settings.engine_options)
    replica = open_replica_engine(settings)
    rt = Runtime(uow=units_of_work(engine, replica),
                 secret_key=require_secret(settings), base_url=settings.base_url, clock=clock,
                 dump_store=make_dump_store(settings.data_dir, settings.dump_bucket,
                                            settings.s3_endpoint_url),
                 destinations=Destinations(settings.outbound_allow))
    xmlrpc = create_xmlrpc_app(rt)
    survey_pages = create_survey_app(rt)
    routes: dict[str, WSGIApp] = {
        "/soap": create_soap_app(rt),
        "/xmlrpc": xmlrpc,
        "/RPC2": xmlrpc,
        "/healthz": _health(engine),
        "/readyz": _ready(engine),
        "/metrics": _metrics(rt, settings.metrics_token),
        "/exports/": create_exports_app(rt),
        "/u/": create_unsubscribe_app(rt),
        "/dashboard/": create_dashboard_app(rt),
        **dict.fromkeys(("/", "/signin", "/signout", "/home", "/keys", "/contacts/"),
                        create_people_app(rt)),
        "/s/": survey_pages,
        "/o/": survey_pages,
        "/static/": survey_pages,
    }
    app = Router(routes, settings.trusted_proxies)
    app.runtime = rt
    app.engine = engine
    app.replica_engine = replica
    return app


class Router:
    """Dispatch on the exact path, or on a prefix ending in '/'; anything else is a 404.

    Requests from a trusted proxy (FEEDLOOP_TRUSTED_PROXIES) carry the client's
    address in X-Real-IP; from anyone else that header is ignored.
    """

    def __init__(self, routes: dict[str, WSGIApp], trusted_proxies: frozenset[str] = frozenset()
                 ) -> None:
        self.routes = routes
        self.trusted_proxies = trusted_proxies
        # "/" is the site's root page only, not a prefix of every path.
        self.prefixes = sorted((p for p in routes if p.endswith("/") and p != "/"), key=len,
                               reverse=True)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REMOTE_ADDR") in self.trusted_proxies and environ.get("HTTP_X_REAL_IP"):
            # Behind nginx every request comes from the proxy: the client's own address,
            # which the authentication throttle counts failures by, is in X-Real-IP.
            environ["REMOTE_ADDR"] = environ["HTTP_X_REAL_IP"].strip()
        path = environ.get("PATH_INFO", "") or "/"
        route = path if path in self.routes else next(
            (p for p in self.prefixes if path.startswith(p)), None)
        app = self.routes[route] if route else _NOT_FOUND
        return observe_request(route or "unmatched", app, environ, start_response)


_NOT_FOUND = wsgi_app(lambda request: text_response("Not found.\n", 404), "router")


def _health(engine) -> WSGIApp:
    """/healthz: the process answers and reaches its database (for restarts)."""
    def health(request: Request) -> Response:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # an operator needs a 503, not a traceback
            log.exception("health check: database unreachable")
            return json_response({"status": "error", "database": "unreachable"}, 503)
        return json_response({"status": "ok", "database": "ok"})

    return wsgi_app(health, "health check")


def _ready(engine) -> WSGIApp:
    """/readyz: the database is reachable and migrated for this release (for traffic)."""
    def ready(request: Request) -> Response:
        try:
            state, current, head = schema_state(engine)
        except Exception:
            log.exception("readiness check: database unreachable")
            return json_response({"status": "error", "database": "unreachable"}, 503)
        # An old node of a rolling upgrade stays ready: migrations keep it working.
        is_ready = state in ("current", "ahead")
        report = {"status": "ok" if is_ready else "error", "database": "ok", "revision": current}
        if state != "current":
            report["schema"] = f"{state}; this release expects {head}"
        return json_response(report, 200 if is_ready else 503)

    return wsgi_app(ready, "readiness check")


def _metrics(rt: Runtime, token: str) -> WSGIApp:
    """/metrics for Prometheus, behind a bearer token of its own (FEEDLOOP_METRICS_TOKEN).

    Not an account's key: the numbers cover every account, so they belong to the
    operator. Without a token configured the endpoint is off.
    """
    expected = f"Bearer {token}".encode()

    def metrics(request: Request) -> Response:
        if not token:
            return text_response("Metrics are off: set FEEDLOOP_METRICS_TOKEN "
                                 "(docs/deploy.md).\n", 404)
        given = request.headers.get("Authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, expected):
            refused = text_response("Send Authorization: Bearer <FEEDLOOP_METRICS_TOKEN>.\n", 401)
            refused.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return refused
        return Response(render_metrics(lambda: read_backlog(rt)),
                        content_type=CONTENT_TYPE_LATEST)

    return wsgi_app(metrics, "metrics")
