"""/u/<token>: the unsubscribe link of every mail (GET asks, POST does it; RFC 8058 one-click)."""
from __future__ import annotations

from typing import Callable, Iterable

from jinja2 import Environment, DictLoader, select_autoescape

from service.domain.mail import DEFAULT_TEXTS
from service.services import Runtime
from service.services.distribution import unsubscribe
from service.services.respondents import open_invitation

_PAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
color:#1a1a1a}button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:.4rem;
background:#1f4fbf;color:#fff;cursor:pointer}button:focus{outline:3px solid #f2a900;
outline-offset:2px}</style></head>
<body><main><h1>{{ title }}</h1>
{% if ask %}<form method="post"><button type="submit">{{ button }}</button></form>{% endif %}
</main></body></html>
"""
_TEMPLATES = Environment(loader=DictLoader({"page": _PAGE}),
                         autoescape=select_autoescape(default=True))
_HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                        "form-action 'self'; frame-ancestors 'none'")]


def create_unsubscribe_app(rt: Runtime) -> Callable:
    def page(environ: dict, start_response: Callable) -> Iterable[bytes]:
        token = environ.get("PATH_INFO", "").removeprefix("/u/")
        survey = open_invitation(rt, token, mark_opened=False).survey
        language = survey.language if survey is not None else None
        texts = DEFAULT_TEXTS.get(language or "en", DEFAULT_TEXTS["en"])
        if language is None:
            return _render(start_response, "404 Not Found", "en", texts["invalid_link"])
        if environ.get("REQUEST_METHOD") == "POST":
            # A POST is the confirmation (also the mail client's one-click request).
            unsubscribe(rt, token)
            return _render(start_response, "200 OK", language, texts["unsubscribed"])
        return _render(start_response, "200 OK", language, texts["unsubscribe_question"],
                       texts["unsubscribe_button"])

    return page


def _render(start_response: Callable, status: str, lang: str, title: str,
            button: str | None = None) -> list[bytes]:
    body = _TEMPLATES.get_template("page").render(lang=lang, title=title, ask=button is not None,
                                                 button=button).encode("utf-8")
    start_response(status, [*_HEADERS, ("Content-Length", str(len(body)))])
    return [body]
