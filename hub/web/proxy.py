"""The client's address behind a trusted reverse proxy (``[proxy] trusted``).

Whatever looks at a client's address reads ``request.remote``: the log-in limits and the audit rows, the
per-role networks, the web chat's per-IP limits, the rate limit of /readyz and /metrics. Behind nginx that
is nginx's address. For a request whose peer is a trusted proxy, :func:`forwarded_clients` hands the
handlers a request whose ``remote`` is the address that proxy saw: ``X-Forwarded-For`` read from the
right, the rightmost address that is not itself a trusted proxy (what a client wrote into the header lies
further left and is never believed). The access log shows the same address (:data:`CLIENT`). A request from
any other peer keeps its peer address, whatever its headers say.

/metrics' loopback door is not widened by this: it still refuses any request that carries a proxy header
(hub/web/health.py), so a scrape through the proxy needs the metrics token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from hub.settings import Network

# The client's address as the hub uses it, on a request that came through a trusted proxy (read by the
# access log, which is handed the request as it arrived).
CLIENT: Final = web.RequestKey("okno_client_address", str)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().partition("%")[0])
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The client's address, if `peer` is a trusted proxy that forwarded one; else None (use the peer).

    `forwarded_for` holds every X-Forwarded-For header's value in order. Read from the right, each trusted
    proxy's entry is skipped; the first other address is the client. An entry that is no address stops
    the walk there (what lies left of it cannot be believed): the address right of it is the answer.
    """
    address = _address(peer or "")
    if address is None or not _trusted(address, trusted):
        return None
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    found: str | None = None
    for hop in reversed(hops):
        parsed = _address(hop)
        if parsed is None:
            break
        found = str(parsed)
        if not _trusted(parsed, trusted):
            break
    return found


def forwarded_clients(trusted: Sequence[Network]) -> Middleware:
    """The middleware giving handlers the client's address behind a trusted proxy (see the module)."""
    networks = tuple(trusted)

    @web.middleware
    async def forwarded_client(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not networks:
            return await handler(request)
        client = client_address(request.remote, request.headers.getall("X-Forwarded-For", []), networks)
        if client is None or client == request.remote:
            return await handler(request)
        request[CLIENT] = client
        return await handler(request.clone(remote=client))

    return forwarded_client
