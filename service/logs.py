"""Log records with the id of the request they belong to, as text or JSON lines.

Standard library only: gunicorn's master loads the JSON formatter from here, and must
not import prometheus_client before it has chosen the multiprocess directory.
"""
from __future__ import annotations

import contextvars
import json
import logging
import os

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)


def request_id() -> str | None:
    """The id of the request being served, or None outside a request."""
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was logged in ("-" outside one).

    A filter runs when the record is logged, inside the request, whereas a formatter
    may run later (buffered or captured handlers).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (FEEDLOOP_LOG_FORMAT=json), with the request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        rid = getattr(record, "request_id", "-")
        if rid != "-":
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def log_handler() -> logging.Handler:
    """A handler in the format FEEDLOOP_LOG_FORMAT asks for (text, the default, or json)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    json_format = os.environ.get("FEEDLOOP_LOG_FORMAT", "text").lower() == "json"
    handler.setFormatter(JsonFormatter() if json_format else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging() -> None:
    """feedloop's records at FEEDLOOP_LOG_LEVEL (libraries' only from WARNING), in the
    format of FEEDLOOP_LOG_FORMAT; for the worker and each gunicorn worker."""
    logging.basicConfig(level=logging.WARNING, handlers=[log_handler()], force=True)
    logging.getLogger("feedloop").setLevel(os.environ.get("FEEDLOOP_LOG_LEVEL", "info").upper())
