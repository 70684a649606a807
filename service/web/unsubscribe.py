"""/u/<token>: the unsubscribe link of every mail (GET asks, POST does it; RFC 8058 one-click).

A GET changes nothing: mail security gateways open every link of a mail.
"""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from service.services import Runtime
from service.services.distribution import unsubscribe
from service.services.respondents import open_invitation
from service.web.i18n import SOURCE_LANGUAGE
from service.web.survey_page import respondent_error_page
from service.web.toolkit import WSGIApp, html_response, render, stylesheet_url, wsgi_app


def create_unsubscribe_app(rt: Runtime) -> WSGIApp:
    """The WSGI application of /u/, in the survey's language."""

    def page(request: Request) -> Response:
        token = request.path.removeprefix("/u/")
        survey = open_invitation(rt, token, mark_opened=False).survey
        if survey is None:
            return _page(request, 404, "invalid")
        if request.method == "POST":
            # A POST is the confirmation (also the mail client's one-click request).
            unsubscribe(rt, token)
            return _page(request, 200, "done", survey.language)
        return _page(request, 200, "ask", survey.language)

    return wsgi_app(page, "unsubscribe page", respondent_error_page)


def _page(request: Request, status: int, step: str, language: str = SOURCE_LANGUAGE
          ) -> Response:
    html = render("unsubscribe.html", language, step=step, stylesheet=stylesheet_url(request))
    return html_response(html, status)
