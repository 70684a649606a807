"""The account's pages for people: sign-in and sign-out, the campaigns home, API keys and a
contact's results. Each form carries a CSRF token bound to the session; every page is in
the browser's language (one of the survey languages) and needs no script.

/signin        GET the form (or, with ?token=, a button for a sign-in link); POST signs in
/signout       POST ends the session
/home          the account's campaigns with their NPS, response rate and last response
/keys          admin keys only: list, create (the secret shown once), rotate, revoke
/contacts/<id> a contact's latest answers in each campaign (GetContactResults)
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.exceptions import HTTPException
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from service.domain.credentials import Credentials
from service.domain.errors import (DomainError, Forbidden, NotFound, Unauthorized,
                                   ValidationError)
from service.services import OPERATIONS, Runtime, invoke
from service.services import messages as m
from service.services.keys import DEFAULT_GRACE, authenticate, principal_of_key, rotation_request
from service.services.metrics import account_overview
from service.services.results import contact_results
from service.web.i18n import choose_language
from service.web.session import (CSRF_FIELD, SIGN_IN_LINK, Visitor, end_session,
                                 keep_sign_in_subject, require_form, sign_in_redirect,
                                 sign_in_subject, start_session, unseal, visitor)
from service.web.csrf import check_csrf, issue_csrf
from service.web.toolkit import (STYLE_INLINE, Handler, WSGIApp, error_headers, html_response,
                                 render, status_of, wsgi_app)

MAX_FORM_BYTES = 64 * 1024

_ROUTES = Map([
    Rule("/", endpoint="root"),
    Rule("/signin", endpoint="signin", methods=["GET", "POST"]),
    Rule("/signout", endpoint="signout", methods=["POST"]),
    Rule("/home", endpoint="home"),
    Rule("/keys", endpoint="keys", methods=["GET", "POST"]),
    Rule("/contacts/<int:contact_id>", endpoint="contact"),
], strict_slashes=False)


class _Request(Request):
    max_content_length = MAX_FORM_BYTES
    max_form_memory_size = MAX_FORM_BYTES


def language_of(request: Request) -> str:
    """The browser's first language among the survey languages, else English."""
    return choose_language(None, True, [tag for tag, quality in request.accept_languages
                                        if quality > 0])


def page_response(rt: Runtime, request: Request, who: Visitor | None, template: str,
                  status: int = 200, **values: Any) -> Response:
    """An account page in the browser's language, with the session's CSRF token."""
    language = language_of(request)
    html = render(template, language, who=who, csrf_field=CSRF_FIELD,
                  csrf=who.csrf(rt) if who and who.nonce else "",
                  is_admin=bool(who and who.principal.allows("admin")), **values)
    return html_response(html, status, STYLE_INLINE, {"Content-Language": language})


def people_app(rt: Runtime, handler: Handler, name: str) -> WSGIApp:
    """The WSGI application of a people's page: a person without a session is sent to the
    sign-in page, any other error is a page in their language."""

    def error_page(request: Request, error: DomainError) -> Response:
        redirected = sign_in_redirect(request, error)
        if redirected is not None:
            return redirected
        response = page_response(rt, request, None, "people_error.html", status_of(error),
                                 error=error)
        response.headers.update(error_headers(error))
        return response

    return wsgi_app(handler, name, error_page, _Request)


def create_people_app(rt: Runtime) -> WSGIApp:
    """The WSGI application of /, /signin, /signout, /home, /keys and /contacts/."""

    def dispatch(request: Request) -> Response:
        try:
            endpoint, args = _ROUTES.bind_to_environ(request.environ).match()
        except HTTPException:
            raise NotFound("No such page.") from None
        return _HANDLERS[endpoint](rt, request, **args)

    return people_app(rt, dispatch, "account pages")


def _root(rt: Runtime, request: Request) -> Response:
    return redirect(f"{request.script_root}/home", 303)


def _safe_next(value: str | None) -> str:
    """Only a path of this site: never an open redirect to another one."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/home"


def _signin(rt: Runtime, request: Request) -> Response:
    now, subject = rt.clock(), sign_in_subject(request)
    source = request.form if request.method == "POST" else request.args
    token, after = source.get("token"), _safe_next(source.get("next"))
    linked = unseal(rt.secret_key, SIGN_IN_LINK, token, now) if token else None
    form = {"token": token if linked else "", "next": after,
            "csrf": issue_csrf(rt.secret_key, subject, now)}

    def form_page(status: int, problem: str = "") -> Response:
        response = page_response(rt, request, None, "signin.html", status, form=form,
                                 problem=problem, signed_out="signed_out" in request.args)
        keep_sign_in_subject(rt, request, response, subject)
        return response

    if request.method != "POST":
        return form_page(200 if linked or not token else 400,
                         "link" if token and not linked else "")
    if not check_csrf(rt.secret_key, subject, request.form.get(CSRF_FIELD), now):
        return form_page(403, "csrf")
    try:
        if linked is not None:
            principal = principal_of_key(rt, linked.key_id)
        else:
            principal = authenticate(rt, Credentials(request.form.get("key_id", "").strip(),
                                                     request.form.get("secret", "").strip()),
                                     request.remote_addr)
        principal.require("read")
    except (Unauthorized, Forbidden) as error:
        return form_page(status_of(error), "scope" if isinstance(error, Forbidden)
                         else "link" if linked else "credentials")
    response = redirect(f"{request.script_root}{after}", 303)
    start_session(rt, request, response, principal.key_id)
    return response


def _signout(rt: Runtime, request: Request) -> Response:
    who = visitor(rt, request, "read")
    require_form(rt, request, who)
    response = redirect(f"{request.script_root}/signin?signed_out=1", 303)
    end_session(response)
    return response


def _home(rt: Runtime, request: Request) -> Response:
    who = visitor(rt, request, "read")
    return page_response(rt, request, who, "home.html",
                         campaigns=account_overview(rt, who.principal))


def _keys(rt: Runtime, request: Request) -> Response:
    who = visitor(rt, request, "admin")
    principal, created, done, problem, status = who.principal, None, None, None, 200
    if request.method == "POST":
        require_form(rt, request, who)
        action, key_id = request.form.get("action"), request.form.get("key_id", "")
        try:
            if action == "create":
                created = invoke(rt, principal, OPERATIONS["CreateApiKey"],
                                 m.CreateApiKeyRequest(scopes=request.form.getlist("scope"),
                                                       label=request.form.get("label", "")[:200]))
            elif action == "rotate":
                created = invoke(rt, principal, OPERATIONS["CreateApiKey"],
                                 rotation_request(rt, principal, key_id, DEFAULT_GRACE))
            elif action == "revoke":
                done = invoke(rt, principal, OPERATIONS["RevokeApiKey"],
                              m.RevokeApiKeyRequest(key_id=key_id))
            else:
                raise ValidationError("Choose create, rotate or revoke.", field="action")
        except (NotFound, ValidationError) as error:
            problem, status = error, status_of(error)
    keys = invoke(rt, principal, OPERATIONS["ListApiKeys"],
                  m.ListApiKeysRequest(include_revoked=True)).keys
    return page_response(rt, request, who, "keys.html", status, keys=keys, created=created,
                         revoked=done, problem=problem,
                         grace_hours=int(DEFAULT_GRACE / timedelta(hours=1)))


def _contact(rt: Runtime, request: Request, contact_id: int) -> Response:
    who = visitor(rt, request, "read")
    return page_response(rt, request, who, "contact.html",
                         results=contact_results(rt, who.principal, contact_id))


_HANDLERS = {"root": _root, "signin": _signin, "signout": _signout, "home": _home,
             "keys": _keys, "contact": _contact}
