"""gunicorn settings for `feedloop serve` (overridable with GUNICORN_CMD_ARGS)."""
import gc
import os
import re
import shutil
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

from service.logs import configure_logging

# Prometheus multiprocess mode: every worker writes its metrics into one directory
# and /metrics adds them up. It is set in the master before any worker is forked
# (workers import prometheus_client after the fork), and is empty at start.
_own_metrics_dir = []


def on_starting(server):
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):  # left by an earlier server
            stale.unlink()
    else:
        _own_metrics_dir.append(tempfile.mkdtemp(prefix="feedloop-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir[0]


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for directory in _own_metrics_dir:
        shutil.rmtree(directory, ignore_errors=True)


bind = os.environ.get("FEEDLOOP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FEEDLOOP_WORKERS", "2"))
# Slow clients cost a socket, not a worker: requests are received whole by the event
# loop before a thread runs them (service/http/buffering.py, docs/deploy.md).
worker_class = "service.http.buffering.BufferingThreadWorker"
threads = int(os.environ.get("FEEDLOOP_THREADS", "2"))
# Requests are bounded (body limits, page sizes); a worker silent this long is stuck.
timeout = 60
graceful_timeout = 30
# Every response closes its connection, as gunicorn's sync workers always did: clients
# (and their tests) that never close a kept-alive connection hold nothing here.
keepalive = 0
# Bound what a client can make us hold before the app sees the request.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("FEEDLOOP_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
proc_name = "feedloop"

_TOKEN_PATH = re.compile(r"^/(s|u)/[^/?]+")


class RedactingLogger(Logger):
    """Access logs without tracking tokens: a token in a log is a link to someone's survey."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = _TOKEN_PATH.sub(r"/\1/<token>", atoms.get("U", ""))
        return atoms


logger_class = RedactingLogger



#: The collector's thresholds in a worker: a young-generation collection once 10,000 more
#: objects are held rather than 700 (CPython's default), and the older ones as often
#: relative to it. A 10,000-row call makes half a million objects that live until it
#: ends, and the default spent 12 % of such a call's time scanning them again and again
#: (bench/profile_call.py rpc-add --rows 10000: 870-900 -> 780-800 ms in the app); a
#: single-row call measured the same either way. Reference cycles are still collected.
GC_THRESHOLDS = (10_000, 20, 20)


def post_worker_init(worker):
    # The app's own records (feedloop.*): FEEDLOOP_LOG_FORMAT, with the request id.
    configure_logging()
    tune_collector()


def tune_collector() -> None:
    """What the worker holds once the app is loaded stays for its life: frozen, the full
    collections no longer walk it; then the thresholds above."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


if os.environ.get("FEEDLOOP_LOG_FORMAT", "text").lower() == "json":
    # gunicorn's own logs and the access log as JSON objects too.
    logconfig_dict = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {name: {"level": "INFO", "handlers": ["stderr"], "propagate": False}
                    for name in ("gunicorn.error", "gunicorn.access")},
    }
