"""Which URLs a provider's answer may send us to (server-side request forgery).

Turbotext answers with the URL of its result, and we download it. Whoever controls that answer
(a compromised or spoofed provider, a man in the middle of a misconfigured base URL) could
otherwise point our provider service at anything it can reach: the cloud metadata endpoint,
the database, the api's internal port, a Kafka broker — and read some of the answer back in
an error message. A URL named by an answer is fetched only when:

- its origin is one of `trusted_local_origins` (exactly `scheme://host:port`: the local
  emulator, configured explicitly; nothing else may be plain http or private), or
- it is `https`, its host is on the allow-list (`host`, `*.domain`, or `*`: any), and every
  address the host resolves to is a public unicast address (not loopback, private,
  link-local, CGNAT, unique-local, multicast or reserved — IPv4-mapped IPv6 included, NAT64
  prefixes and 6to4 addresses embedding a private IPv4 address refused).

Each redirect target is checked the same way before it is followed, and the address the
connection actually reached is checked again before the body is read, so a DNS answer that
changes between the check and the connection (rebinding) is caught too."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeUrl(Exception):
    """The URL is not one we fetch; the message says why (for the processing log)."""


def _origin(url: httpx.URL) -> str:
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
    return f"{url.scheme}://{url.host.lower()}:{port}"


#: IPv6 prefixes that translate to IPv4 somewhere on the way (NAT64, RFC 6052 / 8215): the
#: IPv4 address inside may be anyone's private one, and the translator is on our network
_TRANSLATED = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in network for network in _TRANSLATED):
            return False
        elif address.sixtofour is not None and not is_public(address.sixtofour):
            return False  # 6to4 embedding a private IPv4 address
    return address.is_global and not (address.is_multicast or address.is_reserved)


class UrlPolicy:
    def __init__(
        self, *, allowed_hosts: Iterable[str], trusted_local_origins: Iterable[str] = ()
    ) -> None:
        self._hosts = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip())
        self._trusted = frozenset(
            _origin(httpx.URL(o.strip())) for o in trusted_local_origins if o.strip()
        )

    def _host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self._hosts or "*" in self._hosts:  # "*": any host (webhook targets)
            return True
        return any(
            pattern.startswith("*.") and host.endswith(pattern[1:]) for pattern in self._hosts
        )

    def is_trusted_origin(self, url: httpx.URL) -> bool:
        return _origin(url) in self._trusted

    async def check(self, url: httpx.URL) -> None:
        """Raise `UnsafeUrl` unless `url` may be fetched (resolves its host to check)."""
        if url.userinfo:
            raise UnsafeUrl("URLs with credentials are not fetched")
        if self.is_trusted_origin(url):
            return
        if url.scheme != "https":
            raise UnsafeUrl(f"only https URLs are fetched, not {url.scheme or 'a relative'} one")
        host = url.host
        if not self._host_allowed(host):
            raise UnsafeUrl(f"host {host[:80]!r} is not on the allow-list")
        for address in await _resolve(host, url.port or 443):
            if not is_public(address):
                raise UnsafeUrl(f"host {host[:80]!r} resolves to a non-public address")

    def check_peer(self, url: httpx.URL, response: httpx.Response) -> None:
        """The address the connection reached must be public too (unless trusted)."""
        if self.is_trusted_origin(url):
            return
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if not peer:
            raise UnsafeUrl("the connection's peer address is unknown")
        try:
            address = ipaddress.ip_address(peer[0])
        except ValueError:
            raise UnsafeUrl("the connection's peer address is unreadable") from None
        if not is_public(address):
            raise UnsafeUrl(f"host {url.host[:80]!r} connected to a non-public address")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeUrl(f"host {host[:80]!r} does not resolve ({exc.strerror or exc})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeUrl(f"host {host[:80]!r} does not resolve")
    return addresses
