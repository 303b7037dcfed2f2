"""Who is calling: the peer address, or the client a trusted proxy names.

Per-address limits (ingest uploads and failures, admin logins) need the real client. Behind
an ingress every request comes from the ingress controller, so its `X-Forwarded-For` is
believed — but only from the configured proxies (`PHOTOCHANGER_TRUSTED_PROXIES`), and only
the entries those proxies appended: the list is read from the right, skipping trusted hops,
and the first untrusted address is the client. Anyone else's header is ignored, so it cannot
be used to dodge a limit or to pin one on someone else."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import HTTPConnection

from .settings import Network

UNKNOWN = "unknown"


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


class ClientAddresses:
    def __init__(self, trusted_proxies: Sequence[Network]) -> None:
        self._trusted = tuple(trusted_proxies)

    def _is_trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self._trusted)

    def of(self, connection: HTTPConnection) -> str:
        peer = connection.client.host if connection.client else None
        address = _parse(peer) if peer else None
        if address is None:
            return peer or UNKNOWN
        if not self._trusted or not self._is_trusted(address):
            return str(address)
        hops = [h for v in connection.headers.getlist("x-forwarded-for") for h in v.split(",")]
        for hop in reversed(hops):
            named = _parse(hop)
            if named is None:  # garbage from before the trusted hops: stop believing
                break
            address = named
            if not self._is_trusted(named):
                break
        return str(address)
