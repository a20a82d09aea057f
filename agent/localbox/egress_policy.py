"""What a sandbox may reach on the internet: the rules of the egress proxy (egress.py), without any I/O.

Three modes: `registries` (the default: the package registries below plus the operator's extra domains),
`all` (any public address) and `off`. In every mode an address is refused when it is not a public unicast
address: loopback, private (RFC 1918, unique-local), carrier-grade NAT, link-local (cloud metadata at
169.254.169.254), unspecified, multicast, reserved, IPv6 forms that embed such an IPv4 address, and the host's
own addresses and directly attached networks. The proxy checks the addresses a name resolves to and connects to exactly
the address it checked, so a name that resolves differently the second time (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REGISTRY_DOMAINS = (
    "pypi.org", "files.pythonhosted.org",  # pip
    "registry.npmjs.org", "registry.yarnpkg.com",  # npm, yarn
    "deb.debian.org", "security.debian.org",  # apt
)
BLOCKED = "blocked by the sandbox's network policy"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InternetMode(enum.Enum):
    REGISTRIES = "registries"
    ALL = "all"
    OFF = "off"

    @classmethod
    def parse(cls, value: str) -> InternetMode:
        """`registries`, `all`, `off`; `1`/`true`/`yes`/`on` mean all and `0`/`false`/`no` mean off (the older
        yes/no setting). Raises ValueError with the accepted words."""
        word = value.strip().lower()
        word = {"1": "all", "true": "all", "yes": "all", "on": "all", "0": "off", "false": "off", "no": "off",
                "none": "off"}.get(word, word)
        try:
            return cls(word)
        except ValueError:
            raise ValueError(f"the internet setting must be registries, all or off, not {value.strip()!r}") from None


def normalize_host(host: str) -> str | None:
    """A lower-case DNS name without a trailing dot, or None when `host` is not a plausible DNS name."""
    name = host.strip().lower().rstrip(".")
    if not name or len(name) > 253:
        return None
    return name if all(_LABEL.match(label) for label in name.split(".")) else None


def parse_domains(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Extra allowed domains from a comma (or space) separated list: `example.org` allows exactly that name,
    `*.example.org` allows every name under it (not the name itself). Raises ValueError naming a bad entry."""
    items = text.replace(",", " ").split() if isinstance(text, str) else [i for t in text for i in
                                                                         t.replace(",", " ").split()]
    patterns: list[str] = []
    for item in items:
        wildcard = item.startswith("*.")
        name = normalize_host(item[2:] if wildcard else item)
        if name is not None and _address(name) is not None:
            raise ValueError(f"{item!r} is an address: allowed entries are domain names (example.org, *.example.org)")
        if name is None or "." not in name and not wildcard and name != "localhost":
            raise ValueError(f"{item!r} is not a domain name (use names like example.org or *.example.org)")
        pattern = ("*." if wildcard else "") + name
        if pattern not in patterns:
            patterns.append(pattern)
    return tuple(patterns)


_NEVER = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/8", "100::/64", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Not loopback, private, shared (carrier-grade NAT), link-local, unspecified, multicast, reserved or
    benchmarking space, nor an IPv6 form of such an IPv4 address. An explicit list, not `ipaddress.is_global`
    (which changes between Python versions): the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
    203.0.113.0/24, 2001:db8::/32) are allowed, because no private network lives there by any standard and test
    networks use them for public hosts; the host's own networks are refused separately (`local_networks`)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_public(inner)
    return not any(ip in net for net in _NEVER)


def _hex_v4(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(text), "little"))


def local_networks(proc: Path = Path("/proc/net")) -> frozenset[IPNetwork]:
    """This machine's own addresses (every interface) and the networks it is directly attached to (routes
    without a gateway), read from /proc/net: a sandbox must not reach the host, or its neighbours, through them
    even when they are public addresses."""
    found: set[IPNetwork] = set()
    try:
        lines = (proc / "fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for before, line in zip(lines, lines[1:], strict=False):
        if "/32 host LOCAL" in line:
            with contextlib.suppress(ValueError):
                found.add(ipaddress.ip_network(before.split()[-1]))
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (proc / "if_inet6").read_text().splitlines():
            found.add(ipaddress.ip_network(ipaddress.IPv6Address(int(line.split()[0], 16))))
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (proc / "route").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2], 16) == 0 and int(fields[7], 16) != 0:  # no gateway, not the default route
                found.add(ipaddress.ip_network(f"{_hex_v4(fields[1])}/{_hex_v4(fields[7])}", strict=False))
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (proc / "ipv6_route").read_text().splitlines():
            fields = line.split()
            length, gateway = int(fields[1], 16), int(fields[4], 16)
            if gateway == 0 and 0 < length < 128:
                found.add(ipaddress.ip_network(f"{ipaddress.IPv6Address(int(fields[0], 16))}/{length}",
                                               strict=False))
    return frozenset(found)


@dataclass(frozen=True)
class EgressPolicy:
    """The rules for one server (every sandbox of it gets the same)."""

    mode: InternetMode = InternetMode.REGISTRIES
    extra_domains: tuple[str, ...] = ()
    host_networks: frozenset[IPNetwork] = field(default_factory=frozenset)  # local_networks()

    def allows_name(self, name: str) -> bool:
        if self.mode is InternetMode.ALL:
            return True
        if self.mode is InternetMode.OFF:
            return False
        if name in REGISTRY_DOMAINS:
            return True
        for pattern in self.extra_domains:
            if pattern.startswith("*."):
                if name.endswith(pattern[1:]):
                    return True
            elif name == pattern:
                return True
        return False

    def refuse_target(self, host: str, port: int) -> str | None:
        """Why a request for host:port is refused before any lookup, or None. `host` is a name or an address
        literal as the client sent it."""
        if self.mode is InternetMode.OFF:
            return f"{BLOCKED}: this sandbox has no internet access"
        if not 0 < port < 65536:
            return f"{BLOCKED}: {port} is not a valid port"
        literal = _address(host)
        if literal is not None:
            if self.mode is InternetMode.REGISTRIES:
                return f"{BLOCKED}: only package registries are reachable, by name (not {host})"
            return self.refuse_address(host, literal)
        name = normalize_host(host)
        if name is None:
            return f"{BLOCKED}: {host!r} is not a host name"
        if not self.allows_name(name):
            return f"{BLOCKED}: only package registries are reachable (not {name})"
        return None

    def refuse_address(self, host: str, ip: IPAddress) -> str | None:
        """Why connecting to `ip` (what `host` resolved to) is refused, or None."""
        if not is_public(ip) or any(ip in net for net in self.host_networks):
            what = "this machine or a private network"
            return f"{BLOCKED}: {host} is {what} ({ip})" if str(ip) == host else \
                f"{BLOCKED}: {host} resolves to {what} ({ip})"
        return None


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
