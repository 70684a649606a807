"""Ports for test servers: held from the moment they are picked when the server takes a
bound socket (nothing else can bind them in between), else picked free and retried."""
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


def free_port() -> int:
    """A port of 127.0.0.1 free now, for a server that cannot take a bound socket.

    Another process may bind it first: the caller retries on a new port when the
    server cannot bind.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound by us, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
