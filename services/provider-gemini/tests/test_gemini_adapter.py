"""GeminiAdapter against recorded-shape `generateContent` answers, through httpx.MockTransport."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from photochanger_contracts import (
    InputImage,
    Operation,
    ProviderAdapter,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
)
from photochanger_provider_gemini import GeminiAdapter, PreparedGenerateContent
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.testing import (
    JPEG,
    PNG,
    WEBP,
    Handler,
    mocked_http,
    provider_input,
)
from pydantic import SecretStr

API_KEY = "AIzaSy-test-key-0123456789"
BASE_URL = "https://generativelanguage.test"


def config(*, api_key: str | None = API_KEY, request_timeout: float = 45) -> ProviderConfig:
    return ProviderConfig(
        provider_id="gemini",
        base_url=BASE_URL + "/",
        api_key=SecretStr(api_key) if api_key is not None else None,
        request_timeout_seconds=request_timeout,
    )


def adapter_for(handler: Handler, **kwargs: Any) -> GeminiAdapter:
    cfg = kwargs.pop("config", None) or config()
    return GeminiAdapter(cfg, mocked_http(handler), **kwargs)


def job(
    operation: Operation = Operation.IMAGE_EDIT,
    *,
    settings: dict[str, Any] | None = None,
    templates: tuple[InputImage, ...] = (),
    photo: InputImage | None = None,
) -> ProviderInput:
    return provider_input(
        "slot-001",
        operation=operation,
        settings=settings if settings is not None else {"prompt": "make it sunny"},
        photo=photo,
        templates=templates,
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image_answer(data: bytes = PNG, *, key: str = "inlineData") -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Here is the edited photo."},
                        {key: {"mimeType": "image/png", "data": b64(data)}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 1290, "candidatesTokenCount": 1290},
        "modelVersion": "gemini-2.5-flash-image",
        "responseId": "abc123",
    }


def google_error(code: int, status: str, message: str, details: list[Any] | None = None) -> Any:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def answering(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


async def submit(adapter: GeminiAdapter, provider_input: ProviderInput | None = None) -> Any:
    prepared = await adapter.prepare_payload(provider_input or job())
    return await adapter.submit_job(prepared, timeout=30)


async def failure(adapter: GeminiAdapter, provider_input: ProviderInput | None = None) -> Any:
    with pytest.raises(ProviderError) as caught:
        await submit(adapter, provider_input)
    return caught.value


# -- the request ----------------------------------------------------------------------------


async def test_submit_posts_generate_content_with_key_header_and_exact_json_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=image_answer())

    adapter = adapter_for(handler)
    settings = {
        "prompt": "make it sunny",
        "image_config": {"aspect_ratio": "4:3"},
        "safety_settings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ],
    }
    await submit(adapter, job(settings=settings))

    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == (f"{BASE_URL}/v1beta/models/gemini-2.5-flash-image:generateContent")
    assert request.headers["x-goog-api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert "key=" not in str(request.url)  # the key travels in the header only
    assert json.loads(request.content) == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "make it sunny"},
                    {"inline_data": {"mime_type": "image/jpeg", "data": b64(JPEG)}},
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "4:3"},
        },
        "safetySettings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ],
    }


async def test_image_config_and_safety_settings_are_left_out_when_unset() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    prepared = await adapter.prepare_payload(job())
    body = json.loads(prepared.body)
    assert body["generationConfig"] == {"responseModalities": ["IMAGE"]}
    assert "safetySettings" not in body


async def test_image_size_is_sent_to_the_pro_model() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    settings = {
        "prompt": "p",
        "model": "gemini-3-pro-image-preview",
        "image_config": {"aspect_ratio": "16:9", "image_size": "2K"},
    }
    prepared = await adapter.prepare_payload(job(settings=settings))
    assert prepared.model == "gemini-3-pro-image-preview"
    assert json.loads(prepared.body)["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "2K",
    }


async def test_image_size_for_flash_model_is_refused_as_invalid_settings() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    settings = {"prompt": "p", "image_config": {"image_size": "2K"}}
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(settings=settings))
    assert caught.value.code is ProviderErrorCode.INVALID_SLOT_SETTINGS


async def test_style_transfer_sends_photo_then_style_template_after_a_framed_prompt() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    style = InputImage(role="style", data=WEBP, mime_type="image/webp")
    settings = {
        "prompt": "use warm colours",
        "template_media": [{"role": "style", "media_id": "m1"}],
    }
    prepared = await adapter.prepare_payload(
        job(Operation.STYLE_TRANSFER, settings=settings, templates=(style,))
    )
    parts = json.loads(prepared.body)["contents"][0]["parts"]
    assert [p.get("inline_data", {}).get("mime_type") for p in parts[1:]] == [
        "image/jpeg",
        "image/webp",
    ]
    assert parts[1]["inline_data"]["data"] == b64(JPEG)
    assert parts[2]["inline_data"]["data"] == b64(WEBP)
    text = parts[0]["text"]
    assert "style reference" in text
    assert text.endswith("use warm colours")


async def test_identity_transfer_sends_base_template_and_needs_no_prompt() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    base = InputImage(role="base", data=PNG, mime_type="image/png")
    extra = InputImage(role="pose", data=WEBP, mime_type="image/webp")
    settings = {"template_media": [{"role": "base", "media_id": "m1"}]}
    prepared = await adapter.prepare_payload(
        job(Operation.IDENTITY_TRANSFER, settings=settings, templates=(extra, base))
    )
    parts = json.loads(prepared.body)["contents"][0]["parts"]
    # the photo, the base template, then any other template
    assert [p["inline_data"]["data"] for p in parts[1:]] == [b64(JPEG), b64(PNG), b64(WEBP)]
    assert "base picture" in parts[0]["text"]
    assert "additional references" in parts[0]["text"]


async def test_operation_without_its_template_is_invalid_settings() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    settings = {"prompt": "p", "template_media": [{"role": "style", "media_id": "m1"}]}
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(Operation.STYLE_TRANSFER, settings=settings))
    assert caught.value.code is ProviderErrorCode.INVALID_SLOT_SETTINGS
    assert "style" in caught.value.message


async def test_image_edit_without_prompt_is_invalid_settings() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(settings={"prompt": "  "}))
    assert caught.value.code is ProviderErrorCode.INVALID_SLOT_SETTINGS


async def test_unaccepted_input_type_is_unsupported_input() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    gif = InputImage(role="photo", data=b"GIF89a", mime_type="image/gif")
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(photo=gif))
    assert caught.value.code is ProviderErrorCode.UNSUPPORTED_INPUT


async def test_heic_photo_is_accepted() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    heic = InputImage(role="photo", data=b"\x00\x00\x00\x18ftypheic", mime_type="image/heic")
    prepared = await adapter.prepare_payload(job(photo=heic))
    part = json.loads(prepared.body)["contents"][0]["parts"][1]
    assert part["inline_data"]["mime_type"] == "image/heic"


@pytest.mark.parametrize("api_key", [None, ""])
async def test_missing_api_key_is_not_configured_at_prepare(api_key: str | None) -> None:
    adapter = adapter_for(answering(200, image_answer()), config=config(api_key=api_key))
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job())
    assert caught.value.code is ProviderErrorCode.NOT_CONFIGURED
    assert caught.value.retryable is False


async def test_the_call_gets_the_budget_the_runtime_gives() -> None:
    """The runtime decides a call's budget (its request timeout, or the time left when no
    attempt could follow); the adapter does not cut it again."""
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=image_answer())

    adapter = adapter_for(handler, config=config(request_timeout=5))
    prepared = await adapter.prepare_payload(job())
    await adapter.submit_job(prepared, timeout=12.5)
    assert [t["read"] for t in seen] == [12.5]


async def test_prepared_request_repr_shows_no_image_data() -> None:
    adapter = adapter_for(answering(200, image_answer()))
    prepared = await adapter.prepare_payload(job())
    assert isinstance(prepared, PreparedGenerateContent)
    assert b64(JPEG) not in repr(prepared)


# -- successful answers ---------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["inlineData", "inline_data"])
async def test_first_inline_image_is_the_result(spelling: str) -> None:
    adapter = adapter_for(answering(200, image_answer(PNG, key=spelling)))
    submission = await submit(adapter)
    assert submission.reference is None
    assert submission.result.data == PNG
    assert submission.result.mime_type == "image/png"


async def test_usage_metadata_is_reported_with_the_result() -> None:
    adapter = adapter_for(answering(200, image_answer(PNG)))
    submission = await submit(adapter)
    assert dict(submission.result.usage) == {
        "prompt_token_count": 1290,
        "candidates_token_count": 1290,
    }


async def test_result_mime_type_comes_from_the_bytes_not_the_label() -> None:
    answer = image_answer(JPEG)  # labelled image/png
    adapter = adapter_for(answering(200, answer))
    submission = await submit(adapter)
    assert submission.result.mime_type == "image/jpeg"


async def test_thought_images_before_the_answer_are_skipped() -> None:
    answer = image_answer(PNG)
    parts = answer["candidates"][0]["content"]["parts"]
    parts.insert(0, {"inlineData": {"mimeType": "image/jpeg", "data": b64(JPEG)}, "thought": True})
    adapter = adapter_for(answering(200, answer))
    submission = await submit(adapter)
    assert submission.result.data == PNG


# -- answers without an image ---------------------------------------------------------------


async def test_text_only_answer_is_a_retryable_no_image() -> None:
    answer = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "I can't draw that today."}]},
                "finishReason": "STOP",
            }
        ]
    }
    error = await failure(adapter_for(answering(200, answer)))
    assert error.code is ProviderErrorCode.NO_IMAGE
    assert error.retryable is True
    assert error.provider_status == "STOP"
    assert "I can't draw that today." in error.message


async def test_finish_reason_no_image_is_a_retryable_no_image() -> None:
    answer = {"candidates": [{"finishReason": "NO_IMAGE", "index": 0}]}
    error = await failure(adapter_for(answering(200, answer)))
    assert error.code is ProviderErrorCode.NO_IMAGE
    assert error.retryable is True
    assert error.provider_status == "NO_IMAGE"


async def test_answer_without_candidates_is_a_retryable_no_image() -> None:
    error = await failure(adapter_for(answering(200, {"candidates": []})))
    assert error.code is ProviderErrorCode.NO_IMAGE
    assert error.retryable is True


async def test_prompt_block_reason_is_blocked_and_not_retryable() -> None:
    answer = {
        "promptFeedback": {
            "blockReason": "PROHIBITED_CONTENT",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "HIGH"}
            ],
        },
        "usageMetadata": {"promptTokenCount": 1290},
    }
    error = await failure(adapter_for(answering(200, answer)))
    assert error.code is ProviderErrorCode.BLOCKED
    assert error.retryable is False
    assert error.provider_status == "PROHIBITED_CONTENT"


@pytest.mark.parametrize("reason", ["SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "RECITATION"])
async def test_safety_finish_reason_is_blocked_and_not_retryable(reason: str) -> None:
    answer = {
        "candidates": [
            {
                "content": {"parts": [{"text": "blocked"}]},
                "finishReason": reason,
                "finishMessage": "Unable to show the generated image.",
            }
        ]
    }
    error = await failure(adapter_for(answering(200, answer)))
    assert error.code is ProviderErrorCode.BLOCKED
    assert error.retryable is False
    assert error.provider_status == reason
    assert "Unable to show the generated image." in error.message


# -- HTTP errors ----------------------------------------------------------------------------


async def test_429_is_retryable_quota_with_delay_from_retry_info() -> None:
    body = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ],
    )
    error = await failure(adapter_for(answering(429, body)))
    assert error.code is ProviderErrorCode.QUOTA_EXHAUSTED
    assert error.retryable is True
    assert error.retry_after_seconds == 7.0
    assert error.http_status == 429
    assert error.provider_status == "RESOURCE_EXHAUSTED"


async def test_429_retry_info_takes_fractional_seconds() -> None:
    body = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "slow down",
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.5s"}],
    )
    error = await failure(adapter_for(answering(429, body)))
    assert error.retry_after_seconds == 0.5


async def test_429_retry_after_header_is_used() -> None:
    body = google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.")
    error = await failure(adapter_for(answering(429, body, {"Retry-After": "3"})))
    assert error.code is ProviderErrorCode.QUOTA_EXHAUSTED
    assert error.retryable is True
    assert error.retry_after_seconds == 3.0


async def test_429_on_a_daily_quota_is_not_retryable() -> None:
    body = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s"},
        ],
    )
    error = await failure(adapter_for(answering(429, body)))
    assert error.code is ProviderErrorCode.QUOTA_EXHAUSTED
    assert error.retryable is False
    assert error.retry_after_seconds is None


@pytest.mark.parametrize(
    ("status", "google_status"),
    [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")],
)
async def test_server_errors_are_retryable_unavailable(status: int, google_status: str) -> None:
    body = google_error(status, google_status, "The model is overloaded. Please try again later.")
    error = await failure(adapter_for(answering(status, body)))
    assert error.code is ProviderErrorCode.UNAVAILABLE
    assert error.retryable is True
    assert error.http_status == status
    assert error.provider_status == google_status


async def test_server_error_with_html_body_is_still_retryable_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html><body>Bad Gateway</body></html>")

    error = await failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.UNAVAILABLE
    assert error.retryable is True
    assert error.provider_status is None


@pytest.mark.parametrize(
    ("status", "google_status", "code"),
    [
        (400, "INVALID_ARGUMENT", ProviderErrorCode.REJECTED),
        (400, "FAILED_PRECONDITION", ProviderErrorCode.REJECTED),
        (401, "UNAUTHENTICATED", ProviderErrorCode.AUTH_FAILED),
        (403, "PERMISSION_DENIED", ProviderErrorCode.AUTH_FAILED),
        (404, "NOT_FOUND", ProviderErrorCode.REJECTED),
    ],
)
async def test_client_errors_are_not_retryable_and_keep_google_status(
    status: int, google_status: str, code: ProviderErrorCode
) -> None:
    body = google_error(status, google_status, "Request contains an invalid argument.")
    error = await failure(adapter_for(answering(status, body)))
    assert error.code is code
    assert error.retryable is False
    assert error.provider_status == google_status
    assert "Request contains an invalid argument." in error.message


async def test_invalid_api_key_400_is_auth_failed() -> None:
    body = google_error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    )
    error = await failure(adapter_for(answering(400, body)))
    assert error.code is ProviderErrorCode.AUTH_FAILED
    assert error.retryable is False


async def test_read_timeout_is_retryable_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    error = await failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.TIMEOUT
    assert error.retryable is True


async def test_a_server_dripping_bytes_cannot_outlast_the_budget() -> None:
    async def drip() -> AsyncIterator[bytes]:
        yield b'{"candidates": ['
        await asyncio.sleep(5)
        yield b"]}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=drip())

    adapter = adapter_for(handler)
    prepared = await adapter.prepare_payload(job())
    with pytest.raises(ProviderError) as caught:
        await asyncio.wait_for(adapter.submit_job(prepared, timeout=0.05), timeout=2)
    assert caught.value.code is ProviderErrorCode.TIMEOUT
    assert caught.value.retryable is True


async def test_connection_error_is_retryable_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    error = await failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.UNAVAILABLE
    assert error.retryable is True
    assert "Connection refused" in error.message


# -- broken answers -------------------------------------------------------------------------


async def test_malformed_json_is_a_bad_response_not_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text='{"candidates": [', headers={"content-type": "text/json"})

    error = await failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False
    assert "not valid JSON" in error.message


async def test_unexpected_shape_is_a_bad_response() -> None:
    error = await failure(adapter_for(answering(200, {"candidates": "soon"})))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False


async def test_invalid_base64_is_a_bad_response() -> None:
    answer = image_answer()
    answer["candidates"][0]["content"]["parts"][1]["inlineData"]["data"] = "!!not base64!!"
    error = await failure(adapter_for(answering(200, answer)))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert "!!not base64!!" not in error.message


async def test_result_bytes_that_are_not_an_image_are_a_bad_response() -> None:
    error = await failure(adapter_for(answering(200, image_answer(b"<html>oops</html>"))))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False


async def test_huge_streamed_body_is_refused_without_reading_it_all() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    error = await failure(adapter_for(handler, max_response_bytes=10 * 1024))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert "larger than" in error.message
    assert len(sent) < 20


async def test_body_declared_too_large_is_refused_before_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}", headers={"content-length": str(50 * 2**20)})

    error = await failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert "larger than" in error.message


async def test_decoded_image_over_the_cap_is_a_bad_response() -> None:
    big = PNG + b"\x00" * 4096
    error = await failure(adapter_for(answering(200, image_answer(big)), max_image_bytes=1024))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert "larger than 1024 bytes" in error.message


# -- the rest of the protocol ---------------------------------------------------------------


def test_adapter_satisfies_the_provider_adapter_protocol() -> None:
    adapter = adapter_for(answering(200, {}))
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.provider_id == "gemini"
    assert adapter.needs_public_urls is False
    assert adapter.poll_interval_seconds == 0
    assert adapter.accepted_mime_types == {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "image/heif",
    }


async def test_poll_status_is_refused_because_gemini_is_synchronous() -> None:
    adapter = adapter_for(answering(200, {}))
    with pytest.raises(ProviderError) as caught:
        await adapter.poll_status("anything", timeout=1)
    assert caught.value.code is ProviderErrorCode.BAD_RESPONSE


async def test_cancel_is_a_no_op_without_http() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    await adapter_for(handler).cancel_job("anything")
    assert calls == []


# -- secrets --------------------------------------------------------------------------------


async def test_no_error_message_contains_the_api_key_or_image_data() -> None:
    echo = f"API key {API_KEY} not valid"

    def text_echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": echo}]}}]})

    def raising(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused for {API_KEY}", request=request)

    handlers: list[Handler] = [
        answering(400, google_error(400, "INVALID_ARGUMENT", echo)),
        answering(403, google_error(403, "PERMISSION_DENIED", echo)),
        answering(429, google_error(429, "RESOURCE_EXHAUSTED", echo)),
        answering(503, google_error(503, "UNAVAILABLE", echo)),
        answering(200, {"promptFeedback": {"blockReason": "OTHER", "blockReasonMessage": echo}}),
        text_echo,
        raising,
        answering(200, {"candidates": [{"content": {"parts": [{"inlineData": 5}]}}]}),
    ]
    for handler in handlers:
        error = await failure(adapter_for(handler))
        for text in (str(error), repr(error), error.message):
            assert API_KEY not in text
            assert b64(JPEG) not in text
