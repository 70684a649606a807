"""The web toolkit: one status per domain error, one challenge, one way to fail."""
from __future__ import annotations

import logging

import pytest
from webtest import TestApp
from werkzeug.wrappers import Response

from service.domain import errors
from service.web.toolkit import status_of, text_response, wsgi_app


STATUS = [
    (errors.ValidationError, 400), (errors.InvalidEmail, 400), (errors.InvalidRequest, 400),
    (errors.Unauthorized, 401), (errors.Forbidden, 403), (errors.NotFound, 404),
    (errors.UnknownCampaign, 404), (errors.Conflict, 409), (errors.DuplicateEvent, 409),
    (errors.Unsubscribed, 409), (errors.Quarantined, 409), (errors.RequestTooLarge, 413),
    (errors.TooManyRequests, 429), (errors.InternalError, 500), (errors.Unavailable, 503)]


@pytest.mark.parametrize("error, status", STATUS)
def test_each_domain_error_has_its_http_status(error, status):
    assert status_of(error("x")) == status


@pytest.mark.parametrize("error", errors.all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_code_has_a_chosen_status(error):
    assert error.code in {listed.code for listed, _ in STATUS}


def serve(failure: Exception) -> TestApp:
    def handler(request) -> Response:
        raise failure
    return TestApp(wsgi_app(handler, "test endpoint"))


def test_a_domain_error_is_json_with_its_code_and_a_basic_challenge_when_unauthorized():
    answer = serve(errors.Unauthorized("Give your API key.")).get("/", status=401)
    assert answer.json == {"error": "Unauthorized", "message": "Give your API key."}
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="feedloop"'
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    forbidden = serve(errors.Forbidden("read scope needed")).get("/", status=403)
    assert "WWW-Authenticate" not in forbidden.headers


def test_an_unexpected_failure_is_a_500_that_logs_the_type_but_never_the_message(caplog):
    with caplog.at_level(logging.ERROR, logger="feedloop.web"):
        answer = serve(RuntimeError("password=hunter2")).get("/", status=500)
    assert answer.json["error"] == "InternalError" and "hunter2" not in answer.text
    assert "test endpoint failed: RuntimeError" in caplog.text and "hunter2" not in caplog.text


def test_every_response_gets_nosniff():
    answer = TestApp(wsgi_app(lambda request: text_response("ok"), "plain")).get("/")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
