"""The HTTP client of URL ingest, safe against server-side request forgery.

Every connection the client opens (the first request and each redirect) resolves the host itself, refuses it when
any of its addresses is not a public unicast address (loopback, private, link-local such as the cloud metadata
service 169.254.169.254, multicast, reserved, unspecified, carrier-grade NAT, IPv4 mapped into IPv6 ...), and then
connects to the address it checked, so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot redirect it. Networks in `allowed_networks` are let through (tests, intranets). Redirects,
the time of each network operation and the whole fetch, and the body size are capped by the caller's settings.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class BlockedAddress(Exception):
    """The host resolves to an address URL ingest must not connect to."""

    def __init__(self, host: str, address: str, kind: str):
        super().__init__(f"{host} resolves to a {kind} address, which URL ingest does not fetch from")
        self.host = host
        self.address = address
        self.kind = kind


def _kind(address: Address) -> str | None:
    """Why an address is refused, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _kind(address.ipv4_mapped)
    for attribute, kind in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, attribute):
            return kind
    if not address.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses URL ingest may connect to: public unicast ones, and those in `allowed_networks`."""

    allowed_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for network in self.allowed_networks:
            ipaddress.ip_network(network, strict=False)  # a typo fails at start, not at the first fetch

    def check(self, host: str, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip in ipaddress.ip_network(n, strict=False) for n in self.allowed_networks):
            return
        kind = _kind(ip)
        if kind is not None:
            raise BlockedAddress(host, address, kind)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend with the address check between name resolution and connect."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver):
        self.policy = policy
        self.resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.resolver(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        for address in addresses:  # every answer: a round-robin name must not smuggle a private address in
            self.policy.check(host, address)
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)


@dataclass(frozen=True)
class FetchLimits:
    timeout_s: float = 20.0  # each network operation (connect, a read, a write)
    deadline_s: float = 60.0  # the whole fetch of one URL, redirects included
    max_redirects: int = 5


def guarded_client(
    policy: AddressPolicy | None = None, limits: FetchLimits | None = None, resolver: Resolver = system_resolver
) -> httpx.Client:
    """An httpx client that connects only where `policy` allows (proxies from the environment are ignored:
    a proxy would make the connection in the client's place, unchecked)."""
    limits = limits or FetchLimits()
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool._network_backend = GuardedBackend(policy or AddressPolicy(), resolver)  # noqa: SLF001
    return httpx.Client(
        transport=transport,
        trust_env=False,
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        timeout=limits.timeout_s,
        headers={"User-Agent": "twin-ingest"},
    )
