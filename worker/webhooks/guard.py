"""Which webhook URLs may be reached: public addresses, plus what the operator opens.

The host is resolved and every address it resolves to is checked, at registration and again
before each delivery (a name can be re-pointed later). Loopback, link-local, private,
reserved, multicast and unspecified addresses are refused unless
``PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS`` names the host or a CIDR block holding the address.

The check returns a :class:`Pinned` request target: the delivery connects to the address that
was checked, with the original host in ``Host`` and in TLS (server name and certificate), so a
name re-pointed between the check and the connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from worker.errors import AddressRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Pinned:
    """A checked URL bound to the address it was checked at."""

    url: str
    host_header: str
    server_name: str


def _pin(parts: SplitResult, host: str, port: int, address: Address) -> Pinned:
    literal = f"[{address}]" if address.version == 6 else str(address)
    url = parts._replace(netloc=f"{literal}:{port}").geturl()
    return Pinned(url=url, host_header=parts.netloc, server_name=host)


def _networks(allowed: Sequence[str]) -> tuple[set[str], list[Network]]:
    names: set[str] = set()
    nets: list[Network] = []
    for item in allowed:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.lower().rstrip("."))
    return names, nets


def _internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _internal(address.ipv4_mapped)
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AddressRefused("webhook host does not resolve", [f"url: {host}: {exc}"]) from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, allowed: Sequence[str]) -> Pinned:
    """The URL pinned to a checked address; :class:`AddressRefused` unless it may be reached.

    Only http(s) URLs without credentials are accepted; every address the host resolves to must
    be public or inside an allowed CIDR block, unless the host itself is allowed by name.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("invalid webhook URL", ["url: an http:// or https:// URL with a host"])
    if parts.username or parts.password:
        raise AddressRefused("invalid webhook URL", ["url: credentials in the URL are refused"])
    host = parts.hostname.lower().rstrip(".")
    names, nets = _networks(allowed)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if host not in names:
        for address in addresses:
            if _internal(address) and not any(address in net for net in nets):
                raise AddressRefused(
                    "webhook address refused",
                    [
                        f"url: {host} resolves to {address}, a loopback, link-local or private "
                        "address; add the host or a CIDR block to PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS "
                        "to allow it"
                    ],
                )
    return _pin(parts, host, port, addresses[0])
