"""The test nginx runs the shipped configuration, survives a port race, leaves nothing behind."""
from __future__ import annotations

import http.client
import socket
import ssl

import pytest

from tests.support import nginx
from tests.support.nginx import NginxServer, site_config
from tests.support.ports import refused_port


def test_a_shipped_file_the_replacements_no_longer_fit_is_refused_naming_the_text():
    shipped = nginx.SHIPPED.read_text().replace("listen [::]:80;", "listen [::]:8080;")
    with pytest.raises(ValueError, match=r"'    listen \[::\]:80;\\n' 0 times"):
        site_config(shipped, ("127.0.0.1:1", "127.0.0.1:2"), 80, 443, "c.pem", "k.pem")


@pytest.fixture
def taken_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.nginx
def test_nginx_whose_port_is_taken_before_it_binds_starts_on_others(monkeypatch, taken_port):
    pick = nginx.free_port
    offered = [taken_port]
    monkeypatch.setattr(nginx, "free_port", lambda: offered.pop() if offered else pick())
    with refused_port() as down, NginxServer((f"127.0.0.1:{down}",) * 2) as server:
        assert taken_port not in (server.http_port, server.https_port)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", server.https_port, timeout=30,
            context=ssl.create_default_context(cafile=server.certificate))
        try:
            connection.request("GET", "/healthz")
            assert connection.getresponse().status == 502  # its nodes are down, nginx is up
        finally:
            connection.close()


@pytest.mark.nginx
def test_nginx_that_cannot_start_says_why_and_leaves_nothing_behind(monkeypatch, taken_port):
    monkeypatch.setattr(nginx, "BIND_ATTEMPTS", 1)
    ports = iter([taken_port, nginx.free_port()])  # plain http's is taken
    monkeypatch.setattr(nginx, "free_port", lambda: next(ports))
    server = NginxServer(("127.0.0.1:1", "127.0.0.1:2"))
    with pytest.raises(RuntimeError, match="(?s)did not start.*Address already in use"):
        server.start()
    assert not server.root.exists()
