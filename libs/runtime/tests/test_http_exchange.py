"""The shared provider HTTP plumbing: bounded exchanges and storable error messages."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from photochanger_contracts import ProviderError, ProviderErrorCode
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.http_exchange import (
    MESSAGE_LIMIT,
    ProviderHttp,
    Reply,
    retry_after_seconds,
    with_detail,
)
from pydantic import SecretStr

API_KEY = "sk-test-0123456789abcdef"
URL = "https://provider.test/v1/call"

Handler = Callable[[httpx.Request], httpx.Response]


def provider_http(
    handler: Handler, *, api_key: str | None = API_KEY, url_label: str = "URL"
) -> ProviderHttp:
    config = ProviderConfig(
        provider_id="acme",
        base_url="https://provider.test",
        api_key=SecretStr(api_key) if api_key is not None else None,
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ProviderHttp("acme", config, client, url_label=url_label)


async def exchange(http: ProviderHttp, **kwargs: Any) -> Reply:
    call: dict[str, Any] = {"headers": {}, "timeout": 1.5, "cap": 1024, **kwargs}
    return await http.exchange(call.pop("verb", "GET"), call.pop("url", URL), **call)


async def failure(http: ProviderHttp, **kwargs: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await exchange(http, **kwargs)
    return caught.value


def raising(exc: Callable[[httpx.Request], Exception]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(request)

    return handler


# -- answers --------------------------------------------------------------------------------


async def test_any_status_comes_back_as_a_reply_with_headers_and_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, content=b"busy", headers={"retry-after": "4"})

    reply = await exchange(
        provider_http(handler), verb="POST", content=b"{}", headers={"x-key": "v"}
    )
    assert (reply.status, reply.body, reply.headers["retry-after"]) == (503, b"busy", "4")
    assert seen[0].method == "POST" and seen[0].content == b"{}"
    assert seen[0].headers["x-key"] == "v"
    assert "busy" not in repr(reply)  # bodies may be megabytes of image data


async def test_form_data_is_sent_url_encoded() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200)

    await exchange(provider_http(handler), verb="POST", data={"do": "create_queue", "a": "b c"})
    assert seen == [b"do=create_queue&a=b+c"]


async def test_redirects_are_not_followed_unless_asked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved":
            return httpx.Response(200, content=b"here")
        return httpx.Response(302, headers={"location": "https://provider.test/moved"})

    http = provider_http(handler)
    assert (await exchange(http)).status == 302
    reply = await exchange(http, follow_redirects=True)
    assert (reply.status, reply.body) == (200, b"here")


# -- size cap -------------------------------------------------------------------------------


async def test_a_body_of_exactly_the_cap_is_read() -> None:
    reply = await exchange(
        provider_http(lambda request: httpx.Response(200, content=b"x" * 1024)), cap=1024
    )
    assert len(reply.body) == 1024


async def test_a_streamed_body_over_the_cap_is_refused_without_reading_it_all() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 1024

    error = await failure(
        provider_http(lambda request: httpx.Response(502, content=endless())), cap=10 * 1024
    )
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False
    assert error.message == "acme answer is larger than 10240 bytes"
    assert error.http_status == 502
    assert len(sent) < 20


async def test_a_declared_content_length_over_the_cap_is_refused_before_reading() -> None:
    read: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"{}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(), headers={"content-length": str(2**30)})

    error = await failure(provider_http(handler), cap=1024)
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.message == "acme answer is larger than 1024 bytes"
    assert error.http_status == 200
    assert read == []


# -- failed exchanges -----------------------------------------------------------------------


async def test_an_httpx_timeout_is_a_retryable_timeout() -> None:
    error = await failure(
        provider_http(raising(lambda request: httpx.ReadTimeout("timed out", request=request)))
    )
    assert error.code is ProviderErrorCode.TIMEOUT
    assert error.retryable is True
    assert error.message == "acme did not answer within 1.5s (ReadTimeout)"


async def test_a_server_dripping_bytes_cannot_outlast_the_budget() -> None:
    async def drip() -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.sleep(5)
        yield b"}"

    http = provider_http(lambda request: httpx.Response(200, content=drip()))
    with pytest.raises(ProviderError) as caught:
        await asyncio.wait_for(exchange(http, timeout=0.05), timeout=2)
    assert caught.value.code is ProviderErrorCode.TIMEOUT
    assert caught.value.retryable is True
    assert caught.value.message == "acme did not answer within 0.05s (TimeoutError)"


async def test_a_connection_error_is_retryable_unavailable() -> None:
    error = await failure(
        provider_http(
            raising(lambda request: httpx.ConnectError("[Errno 111] refused", request=request))
        )
    )
    assert error.code is ProviderErrorCode.UNAVAILABLE
    assert error.retryable is True
    assert error.message == "acme unreachable: ConnectError: [Errno 111] refused"


async def test_an_unusable_url_means_not_configured_and_names_the_url() -> None:
    http = provider_http(lambda request: httpx.Response(200), url_label="base_url")
    error = await failure(http, url="http://[::1")
    assert error.code is ProviderErrorCode.NOT_CONFIGURED
    assert error.retryable is False
    assert error.message.startswith("acme base_url is unusable: ")

    unsupported = provider_http(
        raising(lambda request: httpx.UnsupportedProtocol("unsupported protocol 'ftp://'"))
    )
    error = await failure(unsupported)
    assert error.code is ProviderErrorCode.NOT_CONFIGURED
    assert error.message == "acme URL is unusable: unsupported protocol 'ftp://'"


async def test_an_undecodable_body_is_a_bad_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip", headers={"content-encoding": "gzip"})

    error = await failure(provider_http(handler))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False
    assert error.message.startswith("acme answer unreadable: ")


async def test_a_gzipped_body_is_decoded_and_capped_decoded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        packed = gzip.compress(b"x" * 4096)
        return httpx.Response(200, content=packed, headers={"content-encoding": "gzip"})

    assert (await exchange(provider_http(handler), cap=4096)).body == b"x" * 4096
    error = await failure(provider_http(handler), cap=4095)
    assert error.message == "acme answer is larger than 4095 bytes"


async def test_endless_redirects_are_a_bad_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": URL})

    error = await failure(provider_http(handler), follow_redirects=True)
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.message.startswith("acme answer unreadable: ")


# -- the API key and storable messages ------------------------------------------------------


@pytest.mark.parametrize("api_key", [None, ""])
def test_a_missing_api_key_is_not_configured(api_key: str | None) -> None:
    http = provider_http(lambda request: httpx.Response(200), api_key=api_key)
    with pytest.raises(ProviderError) as caught:
        http.api_key()
    assert caught.value.code is ProviderErrorCode.NOT_CONFIGURED
    assert caught.value.message == "acme has no API key"


def test_the_api_key_is_handed_out_when_configured() -> None:
    assert provider_http(lambda request: httpx.Response(200)).api_key() == API_KEY


async def test_the_api_key_is_redacted_from_transport_errors() -> None:
    error = await failure(
        provider_http(
            raising(lambda request: httpx.ConnectError(f"refused for {API_KEY}", request=request))
        )
    )
    assert API_KEY not in error.message and API_KEY not in repr(error)
    assert error.message == "acme unreachable: ConnectError: refused for [redacted]"


def test_error_messages_are_redacted_cut_short_and_keep_their_fields() -> None:
    http = provider_http(lambda request: httpx.Response(200))
    error = http.redacted_error(
        ProviderErrorCode.QUOTA_EXHAUSTED,
        f"key {API_KEY} echoed: " + "y" * 1000,
        retryable=True,
        retry_after_seconds=7.0,
        http_status=429,
        provider_status="RESOURCE_EXHAUSTED",
    )
    assert error.message.startswith("key [redacted] echoed: yyy")
    assert len(error.message) == MESSAGE_LIMIT and error.message.endswith("…")
    assert (error.code, error.retryable, error.retry_after_seconds) == (
        ProviderErrorCode.QUOTA_EXHAUSTED,
        True,
        7.0,
    )
    assert (error.http_status, error.provider_status) == (429, "RESOURCE_EXHAUSTED")
    short = http.redacted_error(ProviderErrorCode.REJECTED, "x" * MESSAGE_LIMIT)
    assert short.message == "x" * MESSAGE_LIMIT


# -- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("", None),
    ],
)
def test_retry_after_is_read_in_delta_seconds_only(value: str, seconds: float | None) -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": value})) == seconds


def test_retry_after_is_none_without_the_header() -> None:
    assert retry_after_seconds(httpx.Headers()) is None


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        (None, "head"),
        ("", "head"),
        ("  ", "head"),
        (" said this \n", "head: said this"),
        (42, "head: 42"),
    ],
)
def test_with_detail_adds_only_something_worth_saying(detail: object, message: str) -> None:
    assert with_detail("head", detail) == message
