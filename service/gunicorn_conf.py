"""gunicorn settings for `feedloop serve` (overridable with GUNICORN_CMD_ARGS)."""
import os
import re

from gunicorn.glogging import Logger

bind = os.environ.get("FEEDLOOP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FEEDLOOP_WORKERS", "2"))
worker_class = "sync"
# Requests are bounded (body limits, page sizes); a worker silent this long is stuck.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Bound what a client can make us hold before the app sees the request.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("FEEDLOOP_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
proc_name = "feedloop"

_TOKEN_PATH = re.compile(r"^/(s|u)/[^/?]+")


class RedactingLogger(Logger):
    """Access logs without tracking tokens: a token in a log is a link to someone's survey."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = _TOKEN_PATH.sub(r"/\1/<token>", atoms.get("U", ""))
        return atoms


logger_class = RedactingLogger
