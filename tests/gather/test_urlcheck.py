"""Which URLs are followed and which addresses connected to (pure: bot.gather.urlcheck)."""

from __future__ import annotations

import ipaddress

import pytest

from bot.gather.urlcheck import UrlRefused, address_refusal, check_addresses, check_url

# An address in some spelling, or a name that is not a public DNS name: refused before any resolution.
REFUSED_URLS = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://127.0.0.1./",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1%25eth0]/",
    "http://0/",
    "http://0.0.0.0/",
    "http://localhost/",
    "http://localhost./",
    "http://LOCALHOST/",
    "http://api.localhost/",
    "http://metadata/computeMetadata/v1/",
    "https://rdap.example.net@127.0.0.1/",
    "https://user:pw@rdap.example.net/",
    "https://rdap.example.net\\@127.0.0.1/",
    "https://rdap.example.net /x",
    "https://rdap.ex\u0430mple.net/",      # a Cyrillic a
    "https://rdap.example.net:0/",
    "https://rdap.example.net:99999/",
    "ftp://rdap.example.net/ip/1.2.3.4",
    "file:///etc/passwd",
    "gopher://rdap.example.net/",
    "javascript:alert(1)",
    "//rdap.example.net/ip/1.2.3.4",
    "rdap.example.net/ip/1.2.3.4",
    "",
    "https://" + "a" * 64 + ".example/",
    "https://rdap.example.net/" + "x" * 3000,
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_addresses_in_any_spelling_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url)


def test_a_plain_registry_url_is_split_for_its_connection() -> None:
    target = check_url("https://rdap.db.ripe.net/ip/62.239.237.1?x=1")
    assert (target.scheme, target.host, target.port, target.path) == ("https", "rdap.db.ripe.net", 443,
                                                                      "/ip/62.239.237.1?x=1")
    assert check_url("http://RDAP.APNIC.NET./ip/1.1.1.1").host == "rdap.apnic.net"
    assert check_url("https://rdap.example.net:8443/x").port == 8443


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.170.2",
    "100.64.0.1", "100.100.100.200", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.0.192",
    "192.0.2.1", "198.18.0.1", "168.63.129.16", "::", "::1", "fe80::1", "fc00::1", "fd00:ec2::254",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1", "2002:a9fe:a9fe::1",
    "64:ff9b::7f00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "ff02::1", "3fff::1",
])
def test_internal_metadata_and_special_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["64.254.255.1", "2606:4700:4700::1111", "::ffff:64.254.255.1"])
def test_public_addresses_may_be_connected_to(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == ""


def test_a_name_with_one_internal_address_is_not_trusted_with_its_public_ones() -> None:
    with pytest.raises(UrlRefused, match=r"10\.0\.0\.1"):
        check_addresses("mixed.example", ["64.254.255.1", "10.0.0.1"], address_refusal)
    with pytest.raises(UrlRefused, match="no address"):
        check_addresses("gone.example", [], address_refusal)
    assert check_addresses("ok.example", ["64.254.255.1"], address_refusal) == ["64.254.255.1"]
