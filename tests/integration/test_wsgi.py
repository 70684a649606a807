"""The composed application: routing, the health check, and gunicorn's access-log line."""
from __future__ import annotations

import logging
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from webtest import TestApp

from service.config import Settings
from service.wsgi import create_app


@pytest.mark.parametrize("path", ["/nothing", "/soapx", "/exportsx/responses.csv"])
def test_a_path_no_door_serves_is_a_plain_404(web, path):
    answer = web.get(path, status=404)
    assert (answer.content_type, answer.text) == ("text/plain", "Not found.\n")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_path_under_a_prefix_reaches_its_door(web):
    # /exports/ answers its own JSON 404, so the router handed the request over
    assert web.get("/exports/other", status=404).json["error"] == "NotFound"


def test_health_reports_a_reachable_database(web):
    answer = web.get("/healthz")
    assert answer.json == {"status": "ok", "database": "ok"}


def test_health_is_a_503_when_the_database_is_unreachable(tmp_path, caplog):
    missing = tmp_path / "no-such-dir" / "feedloop.db"
    app = create_app(Settings(database_url=f"sqlite:///{missing}", base_url="http://x",
                              secret_key=b"k", smtp_url="", data_dir=tmp_path))
    try:
        with caplog.at_level(logging.ERROR, logger="feedloop"):
            answer = TestApp(app).get("/healthz", status=503)
    finally:
        app.engine.dispose()
    assert answer.json == {"status": "error", "database": "unreachable"}
    [record] = [r for r in caplog.records if r.name == "feedloop"]
    assert record.getMessage() == "health check: database unreachable" and record.exc_info


@pytest.mark.parametrize("path, logged", [("/s/Zm9vYmFyYmF6", "/s/<token>"),
                                          ("/u/Zm9vYmFyYmF6", "/u/<token>"),
                                          ("/o/12", "/o/12"), ("/soap", "/soap")])
def test_access_log_lines_carry_no_tracking_token(path, logged):
    from gunicorn.config import Config

    from service import gunicorn_conf
    logger = gunicorn_conf.RedactingLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": path + "?crm=1", "PATH_INFO": path,
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    response = SimpleNamespace(status="200 OK", sent=5, headers=[("X-Request-Id", "r1d")])
    atoms = logger.atoms(response, [], environ, timedelta(milliseconds=3))
    # as Logger.access() formats them: header atoms are looked up case-insensitively
    line = gunicorn_conf.access_log_format % logger.atoms_wrapper_class(atoms)
    assert line == f'127.0.0.1 "GET {logged} HTTP/1.1" 200 5 3ms r1d'


def test_a_worker_freezes_what_it_loaded_and_collects_young_objects_less_often():
    """What post_worker_init leaves in a worker (run in a process of its own: the collector
    is the process's)."""
    probe = ("import gc; from service import gunicorn_conf as conf; "
             "before = gc.get_threshold(); conf.post_worker_init(None); "
             "print(before, gc.get_threshold(), gc.get_freeze_count() > 1000)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split("\n")[0] == "(700, 10, 10) (10000, 20, 20) True"
