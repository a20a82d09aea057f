"""The egress policy (agent/localbox/egress_policy.py): which names and addresses a sandbox may reach."""

from __future__ import annotations

import ipaddress

import pytest

from agent.localbox.egress_policy import (
    REGISTRY_DOMAINS,
    EgressPolicy,
    InternetMode,
    is_public,
    local_networks,
    parse_domains,
)

NOT_PUBLIC = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
    "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.0.8",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "ff0e::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "64:ff9b::7f00:1",
    "2002:a00:1::", "2002:7f00:1::", "::127.0.0.1", "2001:0:4136:e378:8000:63bf:f5ff:fffe", "100::1",
]
PUBLIC = ["203.0.113.80", "192.0.2.10", "2001:db8::1", "2002:808:808::", "64:ff9b::808:808", "8.8.8.8", "151.101.0.223", "104.16.0.1", "2606:4700::1111", "2a04:4e42::223", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_local_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(("word", "mode"), [
    ("registries", InternetMode.REGISTRIES), ("ALL", InternetMode.ALL), ("off", InternetMode.OFF),
    ("1", InternetMode.ALL), ("true", InternetMode.ALL), ("0", InternetMode.OFF), ("no", InternetMode.OFF),
])
def test_internet_mode_words_and_the_older_yes_no_values(word: str, mode: InternetMode) -> None:
    assert InternetMode.parse(word) is mode


def test_an_unknown_internet_mode_names_the_accepted_words() -> None:
    with pytest.raises(ValueError, match="registries, all or off"):
        InternetMode.parse("sometimes")


def test_registries_mode_allows_the_registries_and_refuses_other_names_plainly() -> None:
    policy = EgressPolicy(InternetMode.REGISTRIES)
    for name in REGISTRY_DOMAINS:
        assert policy.refuse_target(name, 443) is None
    assert policy.refuse_target("PyPI.org.", 443) is None
    why = policy.refuse_target("example.com", 443)
    assert why == "blocked by the sandbox's network policy: only package registries are reachable (not example.com)"
    assert policy.refuse_target("evil.pypi.org", 443)  # no implicit subdomains
    assert policy.refuse_target("pypi.org.evil.com", 443)


def test_registries_mode_refuses_address_literals_even_public_ones() -> None:
    policy = EgressPolicy(InternetMode.REGISTRIES)
    assert "by name" in policy.refuse_target("151.101.0.223", 443)
    assert "by name" in policy.refuse_target("[2a04:4e42::223]", 443)


def test_extra_domains_exact_and_wildcard() -> None:
    policy = EgressPolicy(InternetMode.REGISTRIES, parse_domains("github.com, *.githubusercontent.com"))
    assert policy.refuse_target("github.com", 443) is None
    assert policy.refuse_target("api.github.com", 443) is not None
    assert policy.refuse_target("raw.githubusercontent.com", 443) is None
    assert policy.refuse_target("a.b.githubusercontent.com", 443) is None
    assert policy.refuse_target("githubusercontent.com", 443) is not None
    assert policy.refuse_target("evilgithubusercontent.com", 443) is not None


def test_all_mode_allows_any_name_but_checks_literals() -> None:
    policy = EgressPolicy(InternetMode.ALL)
    assert policy.refuse_target("example.com", 8080) is None
    assert policy.refuse_target("8.8.8.8", 53) is None
    assert "this machine or a private network" in policy.refuse_target("127.0.0.1", 8700)
    assert policy.refuse_target("[::1]", 80) is not None
    assert policy.refuse_target("169.254.169.254", 80) is not None


def test_off_mode_refuses_everything() -> None:
    policy = EgressPolicy(InternetMode.OFF)
    assert policy.refuse_target("pypi.org", 443) == "blocked by the sandbox's network policy: this sandbox has no " \
                                                    "internet access"


def test_the_hosts_own_addresses_and_attached_networks_are_refused() -> None:
    mine = ipaddress.ip_network("151.101.64.1/32")  # pretend this machine has a public address
    attached = ipaddress.ip_network("203.0.113.0/24")  # ... and sits on a public (documentation) network
    policy = EgressPolicy(InternetMode.ALL, host_networks=frozenset({mine, attached}))
    assert "resolves to" in policy.refuse_address("myhost.example", ipaddress.ip_address("151.101.64.1"))
    assert policy.refuse_address("neighbour.example", ipaddress.ip_address("203.0.113.9")) is not None
    assert policy.refuse_address("pypi.org", ipaddress.ip_address("151.101.0.223")) is None
    assert policy.refuse_address("pypi.org", ipaddress.ip_address("198.51.100.7")) is None


def test_names_that_are_not_dns_names_are_refused() -> None:
    policy = EgressPolicy(InternetMode.ALL)
    for bad in ("", "a b.com", "exa_mple.com", "-x.com", "x" * 300):
        assert policy.refuse_target(bad, 443) is not None


def test_parse_domains_rejects_addresses_and_bare_wildcards() -> None:
    assert parse_domains(" a.org,*.B.org  a.org ") == ("a.org", "*.b.org")
    assert parse_domains(["a.org,b.org", "c.org"]) == ("a.org", "b.org", "c.org")
    for bad in ("*", "10.0.0.1", "exa mple", "http://a.org", "a.org:80"):
        with pytest.raises(ValueError):
            parse_domains(bad)


def test_local_networks_are_read_from_proc(tmp_path) -> None:
    (tmp_path / "fib_trie").write_text(
        "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 203.0.113.5\n        /32 host LOCAL\n"
        "     |-- 10.0.0.0\n        /8 link UNICAST\n     |-- 127.0.0.1\n        /32 host LOCAL\n")
    (tmp_path / "if_inet6").write_text("2a0104f8000000000000000000000002 02 40 00 00     eth0\n"
                                       "00000000000000000000000000000001 01 80 10 80       lo\n")
    (tmp_path / "route").write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"  # default route: not a network of ours
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")  # 192.0.2.0/24 attached
    (tmp_path / "ipv6_route").write_text(
        "2a0104f8000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "2a0104f8000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n")
    found = local_networks(tmp_path)
    assert found == {ipaddress.ip_network(n) for n in ("203.0.113.5/32", "127.0.0.1/32", "2a01:4f8::2/128",
                                                       "::1/128", "192.0.2.0/24", "2a01:4f8::/64")}


def test_this_machines_networks_include_loopback() -> None:
    assert any(ipaddress.ip_address("127.0.0.1") in net for net in local_networks())
