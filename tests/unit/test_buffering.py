"""The event-loop request buffering of `feedloop serve`'s worker (service/http/buffering.py)."""
from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import time

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from service.http import buffering
from service.http.buffering import BufferingThreadWorker, request_complete

HEAD = b"POST /x HTTP/1.1\r\nHost: a\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("data, complete", [
    (b"GET / HTTP/1.1\r\nHost: a\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
    (HEAD + b"Content-Length: 5\r\n\r\nabcd", False),
    (HEAD + b"content-length:5\r\n\r\nabcde", True),
    (HEAD + b"Content-Length: %d\r\n\r\n" % (buffering.BUFFERED_BODY_LIMIT + 1), True),
    (CHUNKED + b"3\r\nabc\r\n", False),
    (CHUNKED + b"3\r\nab", False),
    (CHUNKED + b"3;ext=1\r\nabc\r\n0\r\n", False),
    (CHUNKED + b"3\r\nabc\r\n0\r\n\r\n", True),
    (CHUNKED + b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n", False),
    (CHUNKED + b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", True),
    (CHUNKED + b"zz\r\n", True),  # malformed: gunicorn's parser answers it
    (CHUNKED + b"z", False),
    (b"GET /" + b"a" * buffering.HEAD_LIMIT, True),  # too long: the parser refuses it
])
def test_a_request_is_complete_once_its_head_and_body_have_arrived(data, complete):
    assert request_complete(data) is complete


def hello(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body) + 6))])
    return [b"hello " + body]


@contextlib.contextmanager
def running_worker(threads: int = 1):
    """The worker's event loop in a thread of this process, on a socket of 127.0.0.1."""
    listener = socket.create_server(("127.0.0.1", 0))
    cfg = Config()
    cfg.set("threads", threads)
    cfg.set("keepalive", 5)
    worker = BufferingThreadWorker(0, os.getppid(), [listener], None, 30, cfg, Logger(cfg))
    worker.wsgi = hello
    worker.tpool = worker.get_thread_pool()
    worker.poller = selectors.DefaultSelector()
    worker.method_queue.init()
    loop = threading.Thread(target=worker.run)
    loop.start()
    try:
        yield listener.getsockname(), worker
    finally:
        worker.alive = False
        worker.method_queue.defer(lambda: None)
        loop.join(10)
        worker.tmp.close()  # the heartbeat file; the loop closed its own poller and pipe


def receive(sock: socket.socket, until: bytes) -> bytes:
    """What the worker sent, up to the end of ``until`` (or of the connection)."""
    data = b""
    while not data.endswith(until):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def ask(address, request: bytes, until: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(request)
        return receive(sock, until)


def test_a_slow_client_holds_no_thread_and_its_request_is_answered_once_complete():
    with running_worker(threads=1) as (address, worker):
        slow = socket.create_connection(address, timeout=5)
        slow.sendall(HEAD + b"Content-Length: 4\r\n\r\nab")
        time.sleep(0.2)
        assert ask(address, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                   b"hello ").endswith(b"hello ")
        slow.sendall(b"cd")
        assert receive(slow, b"hello abcd").endswith(b"hello abcd")
        # the same connection, kept alive, with two pipelined requests
        slow.sendall(HEAD + b"Content-Length: 1\r\n\r\nx" + HEAD + b"Content-Length: 1\r\n\r\ny")
        assert receive(slow, b"hello y").count(b"hello") == 2
        slow.close()
        gone = socket.create_connection(address)
        gone.sendall(b"GET")
        gone.close()
        time.sleep(0.2)
        assert len(worker.receiving) == 0


def test_a_client_expecting_100_continue_gets_it_before_sending_its_body():
    with running_worker() as (address, _):
        with socket.create_connection(address, timeout=5) as client:
            client.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            assert client.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
            client.sendall(b"ab")
            assert receive(client, b"hello ab").endswith(b"hello ab")


def test_a_request_not_complete_by_the_deadline_is_dropped(monkeypatch):
    monkeypatch.setattr(buffering, "REQUEST_DEADLINE", 0.3)
    with running_worker() as (address, worker):
        with socket.create_connection(address, timeout=5) as slow:
            slow.sendall(b"GET / HT")
            assert slow.recv(10) == b""  # closed by the worker's loop within a second or two
        assert len(worker.receiving) == 0


def test_a_stopping_worker_drops_requests_still_arriving():
    with running_worker() as (address, worker):
        slow = socket.create_connection(address, timeout=5)
        slow.sendall(b"GET / HT")
        time.sleep(0.2)
    assert slow.recv(10) == b"" and len(worker.receiving) == 0
    slow.close()
