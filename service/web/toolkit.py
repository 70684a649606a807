"""What every HTTP page and endpoint of the web door shares, in one place.

One style: a handler takes a Werkzeug ``Request`` and returns a ``Response``;
``wsgi_app`` turns it into a WSGI application that maps domain errors to HTTP
statuses (``STATUS_OF_ERROR``), turns an unexpected failure into a logged 500
that leaks nothing, and gives every response its security headers. Pages are
Jinja templates rendered in a language (``render``); callers with an API key
authenticate through ``authenticated``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

from werkzeug.wrappers import Request, Response

from service.domain.errors import (Conflict, DomainError, Forbidden, InternalError,
                                   InvalidRequest, NotFound, Quarantined, RequestTooLarge,
                                   TooManyRequests, Unauthorized, Unavailable, ValidationError)
from service.http.request import basic_credentials, retry_after
from service.services import Principal, Runtime
from service.services.keys import authenticate
from service.web.i18n import SOURCE_LANGUAGE, templates

log = logging.getLogger("feedloop.web")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Handler = Callable[[Request], Response]
#: What a door answers for a domain error: the status comes from STATUS_OF_ERROR.
ErrorPage = Callable[[Request, DomainError], Response]

#: The HTTP status of each domain error; a subclass takes its nearest listed ancestor's.
STATUS_OF_ERROR: dict[type[DomainError], int] = {
    ValidationError: 400, InvalidRequest: 400, Unauthorized: 401, Forbidden: 403,
    NotFound: 404, Conflict: 409, Quarantined: 409, RequestTooLarge: 413,
    TooManyRequests: 429, InternalError: 500, Unavailable: 503,
}
#: The one Basic realm: a browser then keeps one set of credentials for all our pages.
REALM = "feedloop"

STYLESHEET = (Path(__file__).parent / "static" / "feedloop.css").read_bytes()
#: The stylesheet's address changes with its content, so browsers may keep it for a year.
STYLESHEET_VERSION = hashlib.sha256(STYLESHEET).hexdigest()[:10]

#: Every response: browsers must not guess another type than the one we send.
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
#: A page that uses our stylesheet; a page with its styles inline needs the weaker policy.
STYLE_SELF, STYLE_INLINE = "'self'", "'unsafe-inline'"


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error (400 for one the table does not list)."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF_ERROR:
            return STATUS_OF_ERROR[cls]
    return 400


def page_headers(style_src: str) -> dict[str, str]:
    """The security headers of an HTML page: nothing but our own resources, never framed,
    never cached, and no Referer (the token of a link is in the address)."""
    return {"Content-Security-Policy": f"default-src 'none'; style-src {style_src}; "
                                       "img-src 'self'; form-action 'self'; "
                                       "frame-ancestors 'none'; base-uri 'none'",
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store", **NO_SNIFF}


def error_headers(error: DomainError) -> dict[str, str]:
    """The headers of an error answer: the one that makes HTTP clients send their Basic
    credentials (RFC 7617), and an outage's Retry-After."""
    return {"WWW-Authenticate": f'Basic realm="{REALM}"'} \
        if isinstance(error, Unauthorized) else retry_after(error)


def authenticated(rt: Runtime, request: Request, scope: str) -> Principal:
    """The caller of an API-key request (HTTP Basic), refused unless its key has ``scope``."""
    principal = authenticate(rt, basic_credentials(request.environ), request.remote_addr)
    principal.require(scope)
    return principal


def query(request: Request) -> dict[str, list[str]]:
    """The query string's values by name; blank values count as absent."""
    return {name: values for name in request.args
            if (values := [value for value in request.args.getlist(name) if value])}


def render(template: str, language: str = SOURCE_LANGUAGE, **values: Any) -> str:
    """A template of service/web/templates in ``language`` (its _() texts translated)."""
    return templates(language).get_template(template).render(lang=language, **values)


def stylesheet_url(request: Request) -> str:
    return f"{request.script_root}/static/feedloop.css?v={STYLESHEET_VERSION}"


def html_response(html: str, status: int = 200, style_src: str = STYLE_SELF,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(html, status=status, mimetype="text/html",
                    headers={**page_headers(style_src), **(headers or {})})


def json_response(document: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(document) + "\n", status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store", **NO_SNIFF, **(headers or {})})


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain", headers=NO_SNIFF)


def json_error(request: Request, error: DomainError) -> Response:
    """A domain error as machines read it: {"error": code, "message": text}."""
    return json_response({"error": error.code, "message": error.message}, status_of(error),
                         error_headers(error))


def wsgi_app(handler: Handler, name: str, error_page: ErrorPage = json_error,
             request_class: type[Request] = Request) -> WSGIApp:
    """The WSGI application of ``handler``, named ``name`` in the log."""

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = request_class(environ)
        try:
            response = handler(request)
        except DomainError as error:
            response = error_page(request, error)
        except Exception as error:  # the caller gets a 500, never a traceback
            # Type and frames only: messages can quote SQL parameters, answers or a token.
            log.error("%s failed: %s\n%s", name, type(error).__name__,
                      "".join(traceback.format_tb(error.__traceback__)))
            response = error_page(request, InternalError("Something went wrong on our side."))
        for header, value in NO_SNIFF.items():
            response.headers.setdefault(header, value)
        return response(environ, start_response)

    return application
