"""Reading request bodies: bounded, and never past a declared Content-Length."""
from __future__ import annotations

import base64
import io

import pytest

from service.domain.errors import RequestTooLarge
from service.http.request import basic_credentials, read_body


class EndlessStream(io.RawIOBase):
    """A keep-alive socket: after the body, a read would block (here: it fails the test)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self, size: int = -1) -> bytes:
        if not self.body:
            raise AssertionError("read past the declared Content-Length")
        chunk, self.body = self.body[:size], self.body[size:]
        return chunk


def test_body_is_read_up_to_its_declared_length_only():
    environ = {"CONTENT_LENGTH": "5", "wsgi.input": EndlessStream(b"hello")}
    assert read_body(environ, 100) == b"hello"


def test_declared_length_over_the_limit_is_refused_before_reading():
    environ = {"CONTENT_LENGTH": "101", "wsgi.input": EndlessStream(b"")}
    with pytest.raises(RequestTooLarge, match="101 bytes; the limit is 100"):
        read_body(environ, 100)


def test_undeclared_body_is_cut_off_at_the_limit():
    environ = {"wsgi.input": io.BytesIO(b"x" * 1000)}
    with pytest.raises(RequestTooLarge):
        read_body(environ, 100)
    assert read_body({"wsgi.input": io.BytesIO(b"abc")}, 100) == b"abc"


@pytest.mark.parametrize("header, expected", [
    ("Basic " + base64.b64encode(b"fl_1:s:e:c").decode(), ("fl_1", "s:e:c")),
    ("Basic " + base64.b64encode(b"no-colon").decode(), None),
    ("Bearer abc", None), ("Basic ***", None), ("", None)])
def test_basic_credentials_are_parsed_or_ignored(header, expected):
    found = basic_credentials({"HTTP_AUTHORIZATION": header})
    assert (None if found is None else (found.key_id, found.secret)) == expected
