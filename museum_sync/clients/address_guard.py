"""The SSRF guard: which addresses an outgoing request may reach, checked after DNS on every hop.

A manifest URL (or a redirect a server sends back) is data from outside: without a guard, a record
pointing at ``http://169.254.169.254/latest/meta-data/`` or ``http://localhost:5432/`` would make a worker
fetch from inside the network. Rules, in order:

1. Only ``http`` and ``https`` (no ``file:``, ``gopher:``...); a host is required.
2. A host on the allow-list (``trusted``: host names, IP addresses or CIDR networks; for tests and internal
   IIIF servers) passes without looking further, except 3.
3. Cloud-metadata addresses (AWS/GCP/Azure/OpenStack ``169.254.169.254``, AWS ``fd00:ec2::254``, Alibaba
   ``100.100.100.200``, Oracle ``192.0.0.192``) never pass, allow-listed or not: no museum lives there.
4. Otherwise the host is resolved (``getaddrinfo``) and *every* address must be globally routable: no
   private, loopback, link-local, carrier-grade NAT, multicast, reserved or unspecified address, and no
   IPv4-mapped/6to4 form of one. One bad address refuses the host (DNS round-robin cannot pick it later).

``clients.http.HttpClient`` runs ``check`` before the first request and again before every redirect hop,
so a public URL that redirects to a private address is refused at that hop. Known limit: the address is
resolved here and again by the connection pool, so a DNS server that answers differently within those
milliseconds (rebinding) is not caught; an egress firewall is the complete answer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from museum_sync.core.exceptions import MuseumSyncError

__all__ = ["METADATA_ADDRESSES", "AddressGuard", "AddressRefused", "HostUnresolvable", "address_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)


class AddressRefused(MuseumSyncError):
    """A URL the guard will not let a request reach (scheme, metadata or non-public address). Not retried."""


class HostUnresolvable(AddressRefused):
    """The host does not resolve now: nothing was sent. Callers treat it as unavailable, not as a bad address
    (a resolver outage must not read as every link being broken)."""


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached (``None``: a public address). Pure."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return address_refusal(inner)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for name, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return f"a {name} address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _parse_trusted(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in (e.strip().lower() for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.strip("[]"))
    return frozenset(hosts), tuple(networks)


@dataclass(frozen=True)
class AddressGuard:
    """Checks URLs against the rules above. ``trusted``: host names, addresses or CIDR networks that pass."""

    trusted: frozenset[str] = frozenset()
    resolver: Resolver = field(default=_system_resolver, repr=False, compare=False)

    def with_trusted(self, *hosts: str) -> AddressGuard:
        """The same guard trusting ``hosts`` too (the harvest client trusts the origins an operator declared)."""
        return AddressGuard(self.trusted | {h for h in hosts if h}, self.resolver)

    def _trusts(self, host: str, address: IPAddress | None) -> bool:
        hosts, networks = _parse_trusted(self.trusted)
        if host in hosts:
            return True
        return address is not None and any(address in n for n in networks if n.version == address.version)

    def check(self, url: str) -> None:
        """Raise ``AddressRefused`` naming the URL and the reason, or return: the request may go there."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise AddressRefused(f"{url}: only http and https URLs are fetched, not {scheme or 'no scheme'}")
        host = (parts.hostname or "").lower()
        if not host:
            raise AddressRefused(f"{url}: no host")
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and literal in METADATA_ADDRESSES:
            raise AddressRefused(f"{url}: {host} is a cloud metadata address")
        if self._trusts(host, literal):
            return
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise AddressRefused(f"{url}: bad port") from None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
            except (OSError, UnicodeError) as exc:
                raise HostUnresolvable(f"{url}: {host} does not resolve ({exc})") from None
        for address in addresses:
            where = f"{host} is" if literal is not None else f"{host} resolves to {address},"
            if address in METADATA_ADDRESSES:
                raise AddressRefused(f"{url}: {where} a cloud metadata address")
            if self._trusts(host, address):
                continue
            reason = address_refusal(address)
            if reason is not None:
                raise AddressRefused(
                    f"{url}: {where} {reason}; add it to the IIIF or HTTP allow-list if it is an internal "
                    "server you mean to reach"
                )
