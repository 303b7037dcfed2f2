"""Fetch the public image URLs a Turbotext client hands over, as the real service does."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

USER_AGENT = "photochanger-turbotext-emulator/1"


class DownloadError(Exception):
    """The URL could not be fetched (network error, non-200 answer, too large)."""


@dataclass(frozen=True)
class Downloaded:
    url: str
    status: int
    data: bytes


async def fetch(url: str, *, timeout: float, max_bytes: int) -> Downloaded:
    """GET ``url`` (following a few redirects); raise :class:`DownloadError` on failure."""
    try:
        async with (
            httpx.AsyncClient(
                timeout=timeout, follow_redirects=True, max_redirects=3, trust_env=False
            ) as client,
            client.stream("GET", url, headers={"User-Agent": USER_AGENT}) as response,
        ):
            if response.status_code != 200:
                raise DownloadError(f"HTTP {response.status_code} from {url}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadError(f"{url} is larger than {max_bytes} bytes")
                chunks.append(chunk)
            return Downloaded(url=url, status=response.status_code, data=b"".join(chunks))
    except httpx.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: {type(exc).__name__}") from None
