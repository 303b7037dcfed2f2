"""The HTTP plumbing every provider adapter needs, written once.

An adapter knows its provider's API: which call to make, how to read an answer, which error
is which. What it should not have to re-implement is how a call is bounded and how its
failures become `ProviderError` values: a time budget for the whole exchange, a cap on the
answer's size, httpx failures mapped onto error codes, and messages that are safe to store
in job records (never the API key, never more than a few hundred characters).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import httpx
from photochanger_contracts import ProviderError, ProviderErrorCode

from .catalog import ProviderConfig

#: provider messages end up in job records and on the admin's screen; keep them short
MESSAGE_LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's whole answer, read within the size cap; the adapter judges it."""

    status: int
    headers: httpx.Headers
    body: bytes = field(repr=False)


class ProviderHttp:
    """One provider's HTTP calls, bounded in time and size, failing only as `ProviderError`.

    `url_label` names the URL in a "not configured" message: "base_url" when every URL is
    built from the configured base, "URL" when some come from the provider's answers.
    """

    def __init__(
        self,
        provider_id: str,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        *,
        url_label: str = "URL",
    ) -> None:
        self._provider_id = provider_id
        self._config = config
        self._http = http
        self._url_label = url_label

    def api_key(self) -> str:
        """The configured key; a provider without one is not configured, not failing."""
        key = self._secret()
        if not key:
            raise ProviderError(
                ProviderErrorCode.NOT_CONFIGURED, f"{self._provider_id} has no API key"
            )
        return key

    def redacted_error(
        self,
        code: ProviderErrorCode,
        message: str,
        *,
        retryable: bool = False,
        retry_after_seconds: float | None = None,
        http_status: int | None = None,
        provider_status: str | None = None,
    ) -> ProviderError:
        """A ProviderError whose message, built from text the provider sent, is safe to store.

        Providers echo requests back, key included, and may send pages of text; the key is
        replaced and the message cut to `MESSAGE_LIMIT` characters.
        """
        key = self._secret()
        if key:
            message = message.replace(key, "[redacted]")
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 1] + "…"
        return ProviderError(
            code,
            message,
            retryable=retryable,
            retry_after_seconds=retry_after_seconds,
            http_status=http_status,
            provider_status=provider_status,
        )

    async def exchange(
        self,
        verb: str,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
        cap: int,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
        before_body: Callable[[httpx.Response], None] | None = None,
    ) -> Reply:
        """One request with a whole-exchange time budget and a cap on the answer's size.

        Any HTTP status comes back as a `Reply`; only a failed exchange raises, as a
        ProviderError: timeouts and unreachable hosts are retryable, an unusable URL means
        the provider is not configured, an unreadable answer is a bad response.
        `before_body` sees the response before its body is read and may refuse it by raising
        (its exception propagates as it is).
        """
        name = self._provider_id
        try:
            # httpx's timeout bounds each read; asyncio's bounds the whole exchange, so a
            # server dripping bytes cannot hold the call past its budget
            async with (
                asyncio.timeout(timeout),
                self._http.stream(
                    verb,
                    url,
                    content=content,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    follow_redirects=follow_redirects,
                ) as response,
            ):
                if before_body is not None:
                    before_body(response)
                body = await self._read_capped(response, cap)
                return Reply(response.status_code, response.headers, body)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProviderError(
                ProviderErrorCode.TIMEOUT,
                f"{name} did not answer within {timeout:g}s ({type(exc).__name__})",
                retryable=True,
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self.redacted_error(
                ProviderErrorCode.NOT_CONFIGURED, f"{name} {self._url_label} is unusable: {exc}"
            ) from None
        except (httpx.DecodingError, httpx.TooManyRedirects) as exc:
            raise self.redacted_error(
                ProviderErrorCode.BAD_RESPONSE, f"{name} answer unreadable: {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise self.redacted_error(
                ProviderErrorCode.UNAVAILABLE,
                f"{name} unreachable: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from None

    async def _read_capped(self, response: httpx.Response, cap: int) -> bytes:
        """The body, refused as soon as it is known to exceed `cap`: declared or streamed."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._too_large(cap, response.status_code)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:  # stop reading; closing the stream drops the connection
                raise self._too_large(cap, response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, cap: int, status: int) -> ProviderError:
        return ProviderError(
            ProviderErrorCode.BAD_RESPONSE,
            f"{self._provider_id} answer is larger than {cap} bytes",
            http_status=status,
        )

    def _secret(self) -> str:
        return self._config.api_key.get_secret_value() if self._config.api_key else ""


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After` in delta-seconds; the HTTP-date form is ignored (no clock here)."""
    try:
        seconds = float(headers.get("retry-after", "").strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def with_detail(head: str, detail: object) -> str:
    """`head: detail`, or just `head` when the provider said nothing worth adding."""
    text = str(detail).strip() if detail is not None else ""
    return f"{head}: {text}" if text else head
