"""Slow clients (slowloris, slow uploads) against `feedloop serve` with its default settings."""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest
import requests

from tests.e2e.conftest import feedloop, serving

pytestmark = pytest.mark.e2e

#: More than the default workers x threads (2 x 2): with gunicorn's own workers, as many
#: slow clients as that took every worker.
SLOW_CLIENTS = 12
LIST_SURVEYS = (b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                b'xmlns:f="urn:feedloop:v1"><soapenv:Body><f:ListSurveys/></soapenv:Body>'
                b'</soapenv:Envelope>')


def trickle(address: tuple[str, int], data: bytes, stop: threading.Event) -> None:
    """Send ``data`` one byte every second until told to stop, as a slowloris does."""
    with socket.create_connection(address) as sock:
        for byte in data:
            if stop.wait(1.0):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server dropped us: fine, it is still free
                return
        stop.wait()


@pytest.fixture
def default_server(tmp_path):
    """`feedloop serve` with no option at all, on the embedded database; its demo key."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDLOOP_")},
           "FEEDLOOP_DATA_DIR": str(tmp_path / "var"), "FEEDLOOP_SECRET_KEY": uuid.uuid4().hex}
    feedloop(env, "migrate")
    key = feedloop(env, "accounts", "create", "slow").strip().splitlines()[-1].split(":", 1)
    with serving(env, tmp_path, tmp_path / "server.log") as base_url:
        yield base_url, tuple(key)


def test_service_answers_while_slow_clients_hold_more_connections_than_it_has_threads(
        default_server):
    base_url, key = default_server
    address = ("127.0.0.1", int(base_url.rsplit(":", 1)[1]))
    head = b"POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
    slow_upload = head + f"Content-Length: {len(LIST_SURVEYS)}\r\n\r\n".encode()
    stop = threading.Event()
    clients = [threading.Thread(target=trickle, args=(address, data, stop)) for data in
               [head * 20] * (SLOW_CLIENTS // 2) + [slow_upload] * (SLOW_CLIENTS // 2)]
    for client in clients:
        client.start()
    try:
        time.sleep(3)  # every slow client has sent a few bytes, the uploads their head
        for _ in range(3):
            started = time.monotonic()
            assert requests.get(base_url + "/healthz", timeout=5).status_code == 200
            answer = requests.post(base_url + "/soap", data=LIST_SURVEYS, auth=key, timeout=5,
                                   headers={"Content-Type": "text/xml; charset=utf-8"})
            assert answer.status_code == 200 and b"ListSurveysResponse" in answer.content
            assert time.monotonic() - started < 2
    finally:
        stop.set()
        for client in clients:
            client.join()
