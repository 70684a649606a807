"""Where outbound deliveries (webhooks, CRM pushes) may go: public https endpoints.

An endpoint that resolves to loopback, a private or link-local network (cloud
metadata at 169.254.169.254 included), multicast, or any other non-public address
would let an API key reach the service's own network (server-side request forgery).
Only addresses in the operator's allowlist (FEEDLOOP_OUTBOUND_ALLOW) are exempt,
and only those may be reached over plain http.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from service.domain.errors import ValidationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def parse_allowlist(value: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (``127.0.0.1/32,10.0.0.0/8``); ValueError names a bad one."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"'{item}' is not an IP network (CIDR)") from None
    return tuple(networks)


class UnresolvedHost(Exception):
    """The endpoint's name does not resolve (now)."""


@dataclass(frozen=True)
class Destinations:
    """The outbound policy: public addresses over https, plus the operator's allowlist."""

    allow: tuple[Network, ...] = ()
    resolver: Callable[[str, int], list[str]] = resolve

    def check(self, url: str, field: str) -> Address:
        """The address to connect to for ``url``, each of its addresses checked.

        ValidationError (naming ``field``) for a refused destination; UnresolvedHost
        when the name does not resolve.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValidationError(f"'{url}' must be an https URL.", field=field)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValidationError(f"'{url}' has an invalid port.", field=field) from None
        try:
            names = self.resolver(parts.hostname, port)
        except (OSError, UnicodeError):
            raise UnresolvedHost(parts.hostname) from None
        if not names:
            raise UnresolvedHost(parts.hostname)
        addresses = [ipaddress.ip_address(name.partition("%")[0]) for name in names]
        outside = [a for a in addresses if not any(a in network for network in self.allow)]
        for address in outside:
            if not _public(address):
                raise ValidationError(f"'{url}' resolves to {address}, a loopback, private, "
                                      "link-local or otherwise non-public address.",
                                      field=field)
        if outside and parts.scheme != "https":
            raise ValidationError(f"'{url}' must be an https URL.", field=field)
        return addresses[0]

    def check_configured(self, url: str, field: str) -> str:
        """``url`` if it may be configured; an https name that does not resolve yet is
        checked at each delivery."""
        try:
            self.check(url, field)
        except UnresolvedHost:
            if not url.startswith("https://"):
                raise ValidationError(f"'{url}' must be an https URL.", field=field) from None
        return url


def _public(address: Address) -> bool:
    # An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as IPv4.
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    return address.is_global and not address.is_multicast
