"""FEEDLOOP_LOG_FORMAT: text or JSON lines, each with the request it belongs to."""
import io
import json
import logging

import pytest

from service.logs import REQUEST_ID, log_handler


def emit(handler: logging.Handler, rid: str | None) -> str:
    handler.setStream(io.StringIO())
    token = REQUEST_ID.set(rid)
    try:
        record = logging.LogRecord("feedloop.worker", logging.WARNING, __file__, 1,
                                   "delivery %s failed", (7,), None)
        handler.handle(record)
    finally:
        REQUEST_ID.reset(token)
    return handler.stream.getvalue()


def test_json_lines_carry_the_request_id_only_inside_a_request(monkeypatch):
    monkeypatch.setenv("FEEDLOOP_LOG_FORMAT", "json")
    handler = log_handler()
    inside = json.loads(emit(handler, "crm-42"))
    assert inside["message"] == "delivery 7 failed" and inside["request_id"] == "crm-42"
    assert inside["level"] == "warning" and inside["logger"] == "feedloop.worker"
    assert "request_id" not in json.loads(emit(handler, None))


@pytest.mark.parametrize("rid, shown", [("crm-42", "[crm-42]"), (None, "[-]")])
def test_text_lines_show_the_request_id_in_brackets(monkeypatch, rid, shown):
    monkeypatch.delenv("FEEDLOOP_LOG_FORMAT", raising=False)
    line = emit(log_handler(), rid)
    assert line.endswith(f"WARNING feedloop.worker {shown} delivery 7 failed\n")
