"""The survey page's shortcut for personal links answers as its routing map does."""
from __future__ import annotations

import pytest
from werkzeug.exceptions import HTTPException

from service.web import survey_page

PATHS = ["/s/abc", "/s/abc/", "/s/AZaz09-_.~", "/s/", "/s", "/s//abc", "/s/a/b", "/s/a%2Fb",
         "/s/a b", "/s/ä", "/o/abc", "/static/feedloop.css", "/x/abc", "/s/abc\n"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "get"]


def outcome(route, environ):
    try:
        return route(environ)
    except HTTPException as error:
        return type(error).__name__


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", PATHS)
def test_the_shortcut_matches_what_the_map_matches(path, method):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    expected = outcome(lambda e: survey_page._ROUTES.bind_to_environ(e).match(), environ)
    assert outcome(survey_page._route, dict(environ)) == expected


def test_a_plain_token_takes_the_shortcut(monkeypatch):
    monkeypatch.setattr(survey_page, "_ROUTES", None)   # the map is not consulted
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/s/Ab-1_x.y"}
    assert survey_page._route(environ) == ("invitation", {"token": "Ab-1_x.y"})
