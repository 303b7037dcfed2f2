"""Who is calling: the peer address, or the client a trusted proxy names.

Per-address limits (ingest uploads and failures, admin logins) need the real client. Behind
an ingress every request comes from the ingress controller, so its `X-Forwarded-For` is
believed — but only from the configured proxies (`PHOTOCHANGER_TRUSTED_PROXIES`), and only
the entries those proxies appended: the list is read from the right, skipping trusted hops,
and the first untrusted address is the client. Anyone else's header is ignored, so it cannot
be used to dodge a limit or to pin one on someone else.

What a limit keys on is the client's *network* for IPv6: one subscriber gets a whole /64 (or
more) and picks any address in it, so an exact-address key would give it 2^64 identities. IPv6
clients are grouped by `PHOTOCHANGER_IPV6_GROUP_PREFIX` (64 bits by default) and named by
their network (`2001:db8:1:2::/64`); IPv4 addresses (and IPv4-mapped IPv6) stay exact."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from starlette.requests import HTTPConnection

from .settings import Network

UNKNOWN = "unknown"
log = logging.getLogger(__name__)
#: trusted proxy networks wider than these are logged at start: trust the ingress, not a range
_NARROW_ENOUGH = {4: 24, 6: 64}


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def group(address: ipaddress.IPv4Address | ipaddress.IPv6Address, ipv6_prefix: int) -> str:
    """The identity a per-client limit keys on: the IPv4 address, or the IPv6 network."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if ipv6_prefix < 128:
            return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return str(address)


class ClientAddresses:
    def __init__(self, trusted_proxies: Sequence[Network], *, ipv6_prefix: int = 64) -> None:
        self._trusted = tuple(trusted_proxies)
        self._ipv6_prefix = ipv6_prefix
        for network in self._trusted:
            if network.prefixlen < _NARROW_ENOUGH[network.version]:
                log.warning(
                    "a wide network is trusted to name clients (X-Forwarded-For): anything in "
                    "it can pick its address; trust only the ingress controller",
                    extra={"network": str(network)},
                )

    def _is_trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self._trusted)

    def of(self, connection: HTTPConnection) -> str:
        peer = connection.client.host if connection.client else None
        address = _parse(peer) if peer else None
        if address is None:
            return (peer or UNKNOWN)[:64]
        if not self._trusted or not self._is_trusted(address):
            return group(address, self._ipv6_prefix)
        hops = [h for v in connection.headers.getlist("x-forwarded-for") for h in v.split(",")]
        for hop in reversed(hops):
            named = _parse(hop)
            if named is None:  # garbage from before the trusted hops: stop believing
                break
            address = named
            if not self._is_trusted(named):
                break
        return group(address, self._ipv6_prefix)
