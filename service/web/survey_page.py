"""/s/<token> and /o/<public id>: the respondent's survey page, and its stylesheet.

Server-rendered, no script: GET shows the survey (or why it cannot be answered),
POST validates and records, re-rendering the form with the answers kept and each
problem next to its question. Every answer is a page in the respondent's
language; an unexpected error too, logged without the link or any answer.
"""
from __future__ import annotations

import re
import secrets
from functools import lru_cache

from markupsafe import escape
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.http import parse_accept_header
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from service.domain.errors import DomainError, Unavailable
from service.domain.surveys import MAX_TEXT_ANSWER, Question, Survey
from service.services import Runtime
from service.services import respondents
from service.services.respondents import Submission, SurveyView
from service.web.csrf import MAX_AGE, check_csrf, issue_csrf
from service.web.i18n import choose_language
from service.web.toolkit import (NO_SNIFF, STYLESHEET, WSGIApp, error_headers, html_response,
                                 render, status_of, stylesheet_url, wsgi_app)

MAX_FORM_BYTES = 1024 * 1024
#: A numeric question with at most this many points is a row of buttons, wider ones a field.
MAX_SCALE_POINTS = 11
CSRF_FIELD = "_csrf"
#: The open-link form's nonce: one response per form, however often it is sent. A cookie
#: (scoped to the link, until that form is answered) gives a second tab the same one, and
#: the next person at a shared kiosk a new one.
ONCE_FIELD = "_once"
ONCE_COOKIE = "fl_once"
_ONCE = re.compile(r"^[A-Za-z0-9_-]{22}$")

#: A page is rendered once per process and kept as layout: its text with a slot for each
#: value that differs with every request (the form's address, its CSRF token, the open
#: link's nonce). A slot's marker is unguessable, so no survey text can imitate one.
_SLOT = "\x00" + secrets.token_hex(16) + ":{}\x00"
_SLOTS = re.compile(_SLOT.format(r"(\w+)"))
#: What the kept layouts may hold, in characters: a thousand ordinary pages (a few per
#: survey in use: language x state), or a few of the largest a survey allows.
MAX_LAYOUT_CHARS = 8 * 1024 * 1024

_STATUS = {"open": 200, "thanks": 200, "answered": 200, "expired": 410, "paused": 409,
           "closed": 410, "unsubscribed": 410, "unknown": 404}

_ROUTES = Map([
    Rule("/s/<token>", endpoint="invitation", methods=["GET", "POST"]),
    Rule("/o/<public_id>", endpoint="campaign", methods=["GET", "POST"]),
    Rule("/static/feedloop.css", endpoint="stylesheet", methods=["GET"]),
], strict_slashes=False)

#: A personal link's address in the characters a token has (no escape, no slash): what
#: _ROUTES gives it too, without building a map adapter per request. The methods are
#: the rule's (Werkzeug adds HEAD to a GET rule).
_LINK_PATH = re.compile(r"/s/([A-Za-z0-9_.~-]+)/?")
_LINK_METHODS = frozenset({"GET", "HEAD", "POST"})


class _Request(Request):
    max_content_length = MAX_FORM_BYTES
    max_form_memory_size = MAX_FORM_BYTES


def create_survey_app(rt: Runtime) -> WSGIApp:
    """The WSGI application of /s/, /o/ and /static/."""
    return wsgi_app(lambda request: _dispatch(rt, request), "survey page",
                    respondent_error_page, _Request)


def respondent_error_page(request: Request, error: DomainError) -> Response:
    """Whatever went wrong, a respondent gets a page in their language; an outage says
    that nothing was recorded and when to send again."""
    state = "unavailable" if isinstance(error, Unavailable) else "error"
    return _page(request, "survey_state.html", status_of(error), None, error_headers(error),
                 state=state)


def _route(environ: dict) -> tuple[str, dict[str, str]]:
    """The endpoint and arguments of a request, as _ROUTES matches them. A personal link
    (the address of nearly every request here) is recognised by one regular expression;
    only the other addresses go through the routing map."""
    if environ["REQUEST_METHOD"] in _LINK_METHODS and (
            found := _LINK_PATH.fullmatch(environ.get("PATH_INFO", ""))):
        return "invitation", {"token": found[1]}
    return _ROUTES.bind_to_environ(environ).match()


def _dispatch(rt: Runtime, request: Request) -> Response:
    try:
        endpoint, args = _route(request.environ)
    except MethodNotAllowed:
        return _page(request, "survey_state.html", 405, None, {"Allow": "GET, HEAD, POST"},
                     state="unknown")
    except HTTPException:  # not ours: the same page as an unknown link, revealing nothing
        return _state_page(request, SurveyView("unknown"))
    if endpoint == "stylesheet":
        return Response(STYLESHEET, mimetype="text/css", headers={
            "Cache-Control": "public, max-age=31536000, immutable", **NO_SNIFF})
    personal = endpoint == "invitation"
    key = args["token"] if personal else args["public_id"]
    try:
        form = request.form.to_dict(flat=False) if request.method == "POST" else {}
    except RequestEntityTooLarge:
        return _page(request, "survey_state.html", 413, None, state="too_large")
    once = None
    if not personal:
        given = (form.get(ONCE_FIELD) or [request.cookies.get(ONCE_COOKIE, "")])[0]
        once = given if _ONCE.match(given) else secrets.token_urlsafe(16)
    # The nonce is in the CSRF subject: a forged one is refused like a forged form.
    subject = ("s:" + key) if personal else f"o:{key}:{once}"
    if request.method != "POST":
        # Only a GET counts as an opening: HEAD is what link checkers send. A score
        # chosen in the mail is shown chosen; a GET never records it (mail scanners
        # fetch every link), the respondent's one tap on Send does.
        view = _view(rt, personal, key, mark_opened=request.method == "GET")
        picked = respondents.picked_answer(view.survey, request.args.to_dict(flat=False)) \
            if personal and view.state == "open" else {}
        return _survey_or_state(rt, request, subject, Submission(view), picked, once=once,
                                picked=bool(picked))
    if not check_csrf(rt.secret_key, subject, request.form.get(CSRF_FIELD), rt.clock()):
        # Forged, or a page left open too long: nothing is recorded, the answers stay.
        view = _view(rt, personal, key, mark_opened=False)
        return _survey_or_state(rt, request, subject, Submission(view, {"": "csrf"}), form,
                                status=403, once=once)
    extra = respondents.capture_params(request.args.to_dict(flat=False))
    submission = (respondents.answer_invitation(rt, key, form, extra) if personal
                  else respondents.answer_campaign(rt, key, form, extra, once))
    return _survey_or_state(rt, request, subject, submission, form, once=once)


def _view(rt: Runtime, personal: bool, key: str, mark_opened: bool) -> SurveyView:
    if personal:
        return respondents.open_invitation(rt, key, mark_opened)
    return respondents.open_campaign(rt, key)


def _survey_or_state(rt: Runtime, request: Request, subject: str, submission: Submission,
                     form: dict[str, list[str]] | None = None, status: int | None = None,
                     once: str | None = None, picked: bool = False) -> Response:
    view = submission.view
    # The open link's cookie lives on the link's own path, as long as its form is shown.
    path = request.script_root + request.path
    if view.state != "open":
        response = _state_page(request, view)
        if once is not None and request.method == "POST":
            response.delete_cookie(ONCE_COOKIE, path=path)  # answered: the next form is new
        return response
    problems = submission.problems
    action = request.script_root + request.path
    if request.query_string:
        action += "?" + request.query_string.decode("latin-1")
    slots = {"action": action, "csrf": issue_csrf(rt.secret_key, subject, rt.clock())}
    if once is not None:
        slots["once"] = once
    # What a respondent sent is theirs: a page showing it back is not kept.
    response = _page(request, "survey.html", status or (422 if problems else 200), view.survey,
                     slots=slots, keep=request.method != "POST", answers=form or {},
                     problems=problems, csrf_field=CSRF_FIELD, once_field=ONCE_FIELD,
                     picked=picked)
    if once is not None:
        response.set_cookie(ONCE_COOKIE, once, max_age=int(MAX_AGE.total_seconds()), path=path,
                            httponly=True, samesite="Lax", secure=request.scheme == "https")
    return response


def _state_page(request: Request, view: SurveyView) -> Response:
    return _page(request, "survey_state.html", _STATUS[view.state], view.survey, state=view.state)


def _page(request: Request, template: str, status: int, survey: Survey | None,
          headers: dict | None = None, slots: dict[str, str] | None = None, keep: bool = True,
          **values) -> Response:
    language = choose_language(survey.language if survey else None,
                               survey.allow_language_override if survey else True,
                               _accepted(request.headers.get("Accept-Language", "")))
    slots = slots or {}
    values.update(survey=survey, is_scale=_is_scale, max_text=MAX_TEXT_ANSWER,
                  stylesheet=stylesheet_url(request))
    if keep:
        first, rest = _LAYOUTS.get(template, language, tuple(slots), values)
        html = first + "".join(f"{escape(slots[name])}{text}" for name, text in rest)
    else:
        html = render(template, language, **values, **slots)
    return html_response(html, status, headers={"Content-Language": language, **(headers or {})})


@lru_cache(maxsize=256)
def _accepted(header: str) -> tuple[str, ...]:
    """The languages of an Accept-Language header, preferred first. Parsed once: the
    browsers of a site's respondents send a few dozen different ones."""
    return tuple(tag for tag, quality in parse_accept_header(header, LanguageAccept)
                 if quality > 0)


class _Layouts:
    """Layouts by page, up to ``max_chars`` in all; past that, they start again (the ones
    in use come back after one render each)."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.kept: dict[tuple, tuple[str, tuple[tuple[str, str], ...]]] = {}
        self.chars = 0

    def get(self, template: str, language: str, slots: tuple[str, ...], values: dict
            ) -> tuple[str, tuple[tuple[str, str], ...]]:
        """A page's text up to its first slot, then each slot's name and the text after it."""
        key = (template, language, slots, _frozen(values))
        layout = self.kept.get(key)
        if layout is None:
            html = render(template, language, **values,
                          **{name: _SLOT.format(name) for name in slots})
            first, *rest = _SLOTS.split(html)
            layout = (first, tuple(zip(rest[::2], rest[1::2])))
            if self.chars + len(html) > self.max_chars:
                self.kept.clear()
                self.chars = 0
            if len(html) <= self.max_chars:
                self.kept[key] = layout
                self.chars += len(html)
        return layout


_LAYOUTS = _Layouts(MAX_LAYOUT_CHARS)


def _frozen(value):
    """``value`` as a dictionary key: dictionaries and lists become tuples."""
    if isinstance(value, dict):
        return tuple((name, _frozen(item)) for name, item in value.items())
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


def _is_scale(question: Question) -> bool:
    if question.type not in ("nps", "rating"):
        return False
    low, high = question.bounds()
    return high - low + 1 <= MAX_SCALE_POINTS
