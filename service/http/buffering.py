"""gunicorn's threaded worker with requests received in its event loop, as nginx does.

gunicorn's own gthread worker hands a connection to a thread as soon as its first
byte arrives; the thread then blocks on the rest. A client sending one header byte
every few seconds (slowloris) or uploading a body slowly holds a thread for as long
as it likes, and workers x threads such clients take the service down.

Here the event loop reads each request, head and body, without blocking, and a
thread gets it only once it is complete, so slow clients cost a socket and a
buffer, not a thread. A request not complete within REQUEST_DEADLINE seconds is
dropped. Bodies above BUFFERED_BODY_LIMIT, and TLS (not our deployment: TLS ends at
the proxy) go to a thread the usual way; the application refuses such bodies by
their Content-Length before reading them.
"""
from __future__ import annotations

import contextlib
import io
import re
import selectors
import time
from collections import deque
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

#: Seconds a client has to send a whole request (nginx: client_header_timeout and
#: client_body_timeout, 60 s each).
REQUEST_DEADLINE = 60.0
#: Larger bodies than this are not buffered: the application refuses them anyway.
BUFFERED_BODY_LIMIT = 16 * 1024 * 1024
#: A request head larger than this is handed to gunicorn's parser, which refuses it.
HEAD_LIMIT = 64 * 1024
_RECV = 256 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)
_CHUNK_SIZE = re.compile(rb"([0-9a-fA-F]+)[^\r\n]*\r\n")
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*\r\n", re.IGNORECASE)


def request_complete(data: bytes) -> bool:
    """True once ``data`` holds a whole HTTP/1.x request, or as much as we buffer of one."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > HEAD_LIMIT
    head, body = data[:end + 2], data[end + 4:]
    if _CHUNKED.search(head):
        return len(body) > BUFFERED_BODY_LIMIT or _chunks_complete(body)
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        return True
    declared = int(length.group(1))
    return declared > BUFFERED_BODY_LIMIT or len(body) >= declared


def _chunks_complete(body: bytes) -> bool:
    """Whether a chunked body has arrived up to the end of its trailer section."""
    position = 0
    while True:
        size = _CHUNK_SIZE.match(body, position)
        if size is None:  # an incomplete line, or a malformed one the parser refuses
            return b"\r\n" in body[position:]
        position = size.end()
        chunk = int(size.group(1), 16)
        if chunk == 0:
            return body.find(b"\r\n\r\n", position - 2) >= 0
        position += chunk + 2
        if position > len(body):
            return False


class BufferingThreadWorker(ThreadWorker):
    """A gthread worker whose threads only ever see complete requests."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.receiving: deque = deque()

    def enqueue_req(self, conn) -> None:
        if self.cfg.is_ssl or getattr(conn, "complete", False):
            conn.complete = False
            super().enqueue_req(conn)
            return
        conn.received = bytearray()
        conn.continued = False
        if conn.parser is not None:
            # Bytes of the next request the parser already read (pipelining).
            conn.received += conn.parser.unreader.buf.getvalue()
            conn.parser.unreader.buf = io.BytesIO()
            if request_complete(conn.received):
                self._dispatch(conn)
                return
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + REQUEST_DEADLINE
        self.receiving.append(conn)  # in deadline order: every deadline is as far away
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._receive, conn))

    def _receive(self, conn, sock) -> None:
        try:
            data = sock.recv(_RECV)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        conn.received += data
        if data and not request_complete(conn.received):
            self._continue(conn)
            return
        self.poller.unregister(sock)
        self.receiving.remove(conn)
        if data:
            self._dispatch(conn)
        else:  # the client went away
            self.nr_conns -= 1
            conn.close()

    def _continue(self, conn) -> None:
        """Answer "Expect: 100-continue" once the head is in: such a client sends its body
        only then, or after a wait of its own (.NET 350 ms, curl 1 s)."""
        end = conn.received.find(b"\r\n\r\n")
        if conn.continued or end < 0 or not _EXPECT_CONTINUE.search(conn.received, 0, end + 2):
            return
        conn.continued = True
        # 25 bytes into an empty send buffer; gunicorn may send its own 100 later,
        # and clients skip every interim answer (RFC 9110, section 15.2).
        with contextlib.suppress(OSError):
            conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dispatch(self, conn) -> None:
        conn.complete = conn.data_ready = True
        conn.init()
        conn.parser.unreader.unread(bytes(conn.received))
        conn.received = None
        self.enqueue_req(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        # A stopping worker does not wait for requests still arriving.
        now = time.monotonic() if self.alive else float("inf")
        while self.receiving and self.receiving[0].timeout <= now:
            conn = self.receiving.popleft()
            self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()
