"""Ports a test holds from the moment it picks them: nothing else can bind them in between."""
from __future__ import annotations

import contextlib
import socket
from typing import Iterator


def listening_socket() -> socket.socket:
    """A socket listening on a free port of 127.0.0.1, to hand to a server (fd or sock=)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound by us, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
