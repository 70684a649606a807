"""Where webhooks and CRM pushes may go (service/domain/destinations.py)."""
from __future__ import annotations

import ipaddress

import pytest

from service.config import ConfigError, Settings
from service.domain.destinations import Destinations, UnresolvedHost, parse_allowlist
from service.domain.errors import ValidationError


def resolving_to(*addresses: str):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "224.0.0.1",
    "0.0.0.0", "100.64.0.1", "::1", "fc00::1", "fd12::1", "fe80::1%eth0", "ff0e::1", "::",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    # judged as IPv6, these two would pass: shared address space and multicast in IPv4
    "::ffff:100.64.0.1", "::ffff:224.0.0.1",
])
def test_a_non_public_address_is_refused_naming_the_field(address):
    with pytest.raises(ValidationError, match="non-public") as refused:
        Destinations(resolver=resolving_to(address)).check("https://hooks.test/x", "webhooks")
    assert refused.value.field == "webhooks"


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    with pytest.raises(ValidationError) as refused:
        Destinations(resolver=resolving_to("93.184.216.34", "10.0.0.1")).check(
            "https://hooks.test/x", "endpoint")
    assert refused.value.message == ("'https://hooks.test/x' resolves to 10.0.0.1, a loopback, "
                                     "private, link-local or otherwise non-public address.")


def test_a_public_https_endpoint_is_accepted_at_its_first_address():
    destinations = Destinations(resolver=resolving_to("93.184.216.34", "2606:2800::1"))
    assert destinations.check("https://hooks.test:8443/x", "webhooks") == \
        ipaddress.ip_address("93.184.216.34")


@pytest.mark.parametrize("url", ["http://hooks.test/x", "ftp://hooks.test/x", "https:///x",
                                 "hooks.test/x"])
def test_anything_but_https_is_refused_for_a_public_address(url):
    with pytest.raises(ValidationError) as refused:
        Destinations(resolver=resolving_to("93.184.216.34")).check(url, "webhooks")
    assert (refused.value.message, refused.value.field) == (f"'{url}' must be an https URL.",
                                                            "webhooks")


def test_an_invalid_port_is_refused():
    with pytest.raises(ValidationError) as refused:
        Destinations().check("https://hooks.test:99999/x", "webhooks")
    assert (refused.value.message, refused.value.field) == (
        "'https://hooks.test:99999/x' has an invalid port.", "webhooks")


def test_the_allowlist_admits_its_networks_over_http_too():
    destinations = Destinations(parse_allowlist(" 127.0.0.1/32, 10.0.0.0/8,"),
                                resolving_to("10.9.8.7"))
    assert str(destinations.check("http://crm.internal/x", "endpoint")) == "10.9.8.7"
    with pytest.raises(ValidationError, match="non-public"):
        Destinations(parse_allowlist("127.0.0.1/32"), resolving_to("127.0.0.2")).check(
            "http://crm.internal/x", "endpoint")


def test_an_allowlisted_network_may_be_written_with_any_address_in_it():
    assert parse_allowlist("10.1.2.3/8, fd00::1/8") == (ipaddress.ip_network("10.0.0.0/8"),
                                                        ipaddress.ip_network("fd00::/8"))


def test_a_name_that_does_not_resolve_is_configurable_and_checked_at_delivery():
    def unknown(host, port):
        raise OSError("Name or service not known")
    destinations = Destinations(resolver=unknown)
    assert destinations.check_configured("https://later.test/x", "webhooks") == \
        "https://later.test/x"
    with pytest.raises(UnresolvedHost, match="^later.test$"):
        destinations.check("https://later.test/x", "webhooks")
    with pytest.raises(UnresolvedHost, match="^later.test$"):
        Destinations(resolver=resolving_to()).check("https://later.test/x", "webhooks")


def test_a_literal_loopback_address_is_refused_without_asking_dns():
    with pytest.raises(ValidationError, match="non-public"):
        Destinations().check_configured("https://[::1]:8443/x", "webhooks")


def test_the_allowlist_comes_from_the_environment_and_a_bad_one_is_a_config_error(tmp_path):
    env = {"FEEDLOOP_DATA_DIR": str(tmp_path), "FEEDLOOP_OUTBOUND_ALLOW": "127.0.0.1/32,fd00::/8"}
    assert Settings.from_env(env).outbound_allow == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("fd00::/8"))
    with pytest.raises(ConfigError, match="'localhost' is not an IP network"):
        Settings.from_env({**env, "FEEDLOOP_OUTBOUND_ALLOW": "localhost"})
