"""The client's address: the one every per-address limit counts by (sign-in budget, widget sockets,
new widget conversations) and the one the logs name.

Behind a reverse proxy the TCP peer is the proxy, so every youth and every attacker would share one
budget. Only a peer inside ``service.trusted_proxies`` may name the client in ``X-Forwarded-For``.
Each proxy appends the address it saw, so the header is read from the right, skipping the trusted
proxies' own addresses; the first other address is the client. Everything left of it was written by
the client and is never believed. From a peer outside the list the header is ignored altogether.

The middleware puts the result in ``request.remote`` (aiohttp's ``clone(remote=…)``), before any other
middleware or handler runs, so no code path can count by the proxy's address or a forged header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``"10.0.0.0/8"`` or a single address; raises ``ValueError`` naming the bad entry."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR network: {cidr!r}") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; lists name them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(peer: str, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """The client behind ``peer``: ``forwarded_for`` are the ``X-Forwarded-For`` header values in order."""
    direct = _address(peer)
    if direct is None or not _trusted(direct, proxies):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    client = direct
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # a trusted proxy never writes this: stop at the last address a proxy vouched for
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)


def client_address_middleware(proxies: Sequence[Network]) -> Middleware:
    @web.middleware
    async def with_client_address(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote or ""
        address = client_address(peer, request.headers.getall("X-Forwarded-For", []), proxies)
        return await handler(request if address == peer else request.clone(remote=address))

    return with_client_address
