"""OpenAIAdapter against recorded-shape `images/edits` answers (httpx.MockTransport) and
against the emulator (the real multipart wire format both ways)."""

from __future__ import annotations

import base64
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
    SlotSettingsError,
    validate_slot_settings,
)
from photochanger_emulators import imaging
from photochanger_emulators.testing import sample_image
from photochanger_provider_openai import OpenAIAdapter, PreparedImageEdit
from photochanger_provider_openai.emulator import create_openai_app
from photochanger_provider_openai.settings import OpenAISettings
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.testing import (
    JPEG,
    PNG,
    Handler,
    mocked_http,
    provider_input,
)
from pydantic import SecretStr

API_KEY = "sk-test-openai-key-0123456789"
BASE_URL = "https://api.openai.test"


def config(*, api_key: str | None = API_KEY) -> ProviderConfig:
    return ProviderConfig(
        provider_id="openai",
        base_url=BASE_URL + "/",
        api_key=SecretStr(api_key) if api_key is not None else None,
        request_timeout_seconds=45,
    )


def adapter_for(handler: Handler) -> OpenAIAdapter:
    return OpenAIAdapter(config(), mocked_http(handler))


def job(
    operation: Operation = Operation.IMAGE_EDIT,
    *,
    settings: dict[str, Any] | None = None,
    templates: tuple[InputImage, ...] = (),
    photo: InputImage | None = None,
) -> ProviderInput:
    return provider_input(
        "slot-003",
        operation=operation,
        settings=settings if settings is not None else {"prompt": "make it a watercolour"},
        photo=photo,
        templates=templates,
    )


def image_answer(data: bytes = PNG) -> dict[str, Any]:
    return {
        "created": 1764500000,
        "background": "opaque",
        "data": [{"b64_json": base64.b64encode(data).decode()}],
        "output_format": "png",
        "quality": "medium",
        "size": "1024x1024",
        "usage": {
            "input_tokens": 340,
            "input_tokens_details": {"text_tokens": 17, "image_tokens": 323},
            "output_tokens": 1056,
            "total_tokens": 1396,
        },
    }


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> Any:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def answering(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


async def submit(adapter: OpenAIAdapter, provider_input: ProviderInput | None = None) -> Any:
    prepared = await adapter.prepare_payload(provider_input or job())
    return await adapter.submit_job(prepared, timeout=30)


async def failure(adapter: OpenAIAdapter) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await submit(adapter)
    return caught.value


def multipart(request: httpx.Request) -> tuple[dict[str, str], list[tuple[str, str, bytes]]]:
    """(text fields, [(field, content type, bytes)]) of a multipart request, parsed by hand."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    fields: dict[str, str] = {}
    files: list[tuple[str, str, bytes]] = []
    for part in request.content.split(b"--" + boundary)[1:-1]:
        head, _, body = part.strip(b"\r\n").partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        disposition = next(line for line in lines if line.lower().startswith("content-disp"))
        name = disposition.split('name="')[1].split('"')[0]
        kind = next((line.split(":", 1)[1].strip() for line in lines
                     if line.lower().startswith("content-type")), None)  # fmt: skip
        if "filename=" in disposition:
            files.append((name, kind or "", body))
        else:
            fields[name] = body.decode()
    return fields, files


def test_the_adapter_keeps_the_protocol() -> None:
    assert isinstance(adapter_for(answering(200, {})), ProviderAdapter)


# -- the request ----------------------------------------------------------------------------


async def test_image_edit_posts_the_photo_prompt_and_options_as_multipart_with_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=image_answer())

    settings = {
        "prompt": "  studio portrait ",
        "model": "gpt-image-1.5",
        "size": "1024x1536",
        "quality": "high",
        "output_format": "webp",
        "output_compression": 80,
        "background": "opaque",
        "input_fidelity": "high",
    }
    await submit(adapter_for(handler), job(settings=settings))

    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/v1/images/edits"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    fields, files = multipart(request)
    assert fields == {
        "prompt": "studio portrait",
        "model": "gpt-image-1.5",
        "n": "1",
        "size": "1024x1536",
        "quality": "high",
        "output_format": "webp",
        "output_compression": "80",
        "background": "opaque",
        "input_fidelity": "high",
    }
    assert files == [("image[]", "image/jpeg", JPEG)]


async def test_style_transfer_sends_the_photo_first_then_the_style_template() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=image_answer())

    style = InputImage(role="style", data=PNG, mime_type="image/png")
    extra = InputImage(role="logo", data=PNG + b"x", mime_type="image/png")
    settings = {
        "prompt": "van gogh",
        "template_media": [{"role": "style", "media_id": "a"}, {"role": "logo", "media_id": "b"}],
    }
    await submit(
        adapter_for(handler),
        job(Operation.STYLE_TRANSFER, settings=settings, templates=(extra, style)),
    )
    fields, files = multipart(seen[0])
    assert [body for _, _, body in files] == [JPEG, PNG, PNG + b"x"]
    assert fields["prompt"].startswith("The first image is a photo. The second image is a style")
    assert "further images" in fields["prompt"] and fields["prompt"].endswith("van gogh")
    # defaults of the settings model are sent explicitly
    assert (fields["model"], fields["size"], fields["output_format"]) == (
        "gpt-image-1.5", "1024x1024", "png",
    )  # fmt: skip
    assert "input_fidelity" not in fields


async def test_prepared_request_shows_no_image_data() -> None:
    prepared = await adapter_for(answering(200, {})).prepare_payload(job())
    assert isinstance(prepared, PreparedImageEdit)
    assert "body" not in repr(prepared) and JPEG.hex() not in repr(prepared)


async def test_unsupported_input_and_missing_key_are_refused_before_any_call() -> None:
    calls: list[httpx.Request] = []
    adapter = adapter_for(lambda r: calls.append(r) or httpx.Response(200))  # type: ignore[func-returns-value]
    heic = InputImage(role="photo", data=b"\x00" * 40, mime_type="image/heic")
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(photo=heic))
    assert caught.value.code is ProviderErrorCode.UNSUPPORTED_INPUT
    keyless = OpenAIAdapter(config(api_key=None), httpx.AsyncClient())
    with pytest.raises(ProviderError) as caught:
        await keyless.prepare_payload(job())
    assert caught.value.code is ProviderErrorCode.NOT_CONFIGURED
    assert not calls


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"model": "gpt-image-1-mini", "input_fidelity": "high"}, "settings"),
        ({"background": "transparent", "output_format": "jpeg"}, "settings"),
        ({"output_compression": 50}, "settings"),
        ({"size": "512x512"}, "size"),
        ({"model": "dall-e-3"}, "model"),
        ({"output_compression": 101, "output_format": "jpeg"}, "output_compression"),
    ],
)
def test_settings_the_api_would_refuse_are_invalid(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(SlotSettingsError) as caught:
        validate_slot_settings("openai", Operation.IMAGE_EDIT, {"prompt": "x", **settings})
    assert caught.value.problems[0].field == field


def test_valid_settings_are_the_openai_model() -> None:
    parsed = validate_slot_settings(
        "openai",
        Operation.IMAGE_EDIT,
        {"prompt": "x", "background": "transparent", "output_format": "webp", "quality": "low"},
    )
    assert isinstance(parsed, OpenAISettings) and parsed.model == "gpt-image-1.5"


# -- answers --------------------------------------------------------------------------------


async def test_b64_json_is_the_result_and_the_usage_is_reported() -> None:
    submission = await submit(adapter_for(answering(200, image_answer(JPEG))))
    assert submission.reference is None
    assert submission.result.data == JPEG
    assert submission.result.mime_type == "image/jpeg"  # from the bytes
    assert dict(submission.result.usage) == {
        "input_tokens": 340,
        "output_tokens": 1056,
        "total_tokens": 1396,
        "input_text_tokens": 17,
        "input_image_tokens": 323,
    }


@pytest.mark.parametrize(
    ("body", "code", "retryable"),
    [
        ({"created": 1, "data": []}, ProviderErrorCode.NO_IMAGE, True),
        ({"created": 1, "data": [{"url": "https://x/y.png"}]}, ProviderErrorCode.NO_IMAGE, True),
        ({"created": 1, "data": [{"b64_json": "%%%"}]}, ProviderErrorCode.BAD_RESPONSE, False),
        ({"created": 1, "data": [{"b64_json": "aGVsbG8="}]}, ProviderErrorCode.BAD_RESPONSE, False),
        ({"data": "nope"}, ProviderErrorCode.BAD_RESPONSE, False),
    ],
)
async def test_answers_without_a_usable_image(
    body: Any, code: ProviderErrorCode, retryable: bool
) -> None:
    error = await failure(adapter_for(answering(200, body)))
    assert (error.code, error.retryable) == (code, retryable)


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retryable", "retry_after"),
    [
        (429, error_body("Rate limit reached for gpt-image-1.5", "requests",
                         "rate_limit_exceeded"), {"retry-after": "2"},
         ProviderErrorCode.QUOTA_EXHAUSTED, True, 2.0),
        (429, error_body("You exceeded your current quota", "insufficient_quota",
                         "insufficient_quota"), {}, ProviderErrorCode.QUOTA_EXHAUSTED, False, None),
        (400, error_body("Your request was rejected by the safety system.",
                         "image_generation_user_error", "moderation_blocked"), {},
         ProviderErrorCode.BLOCKED, False, None),
        (400, error_body("Invalid value: 'huge'.", "invalid_request_error", "invalid_value",
                         "size"), {}, ProviderErrorCode.REJECTED, False, None),
        (401, error_body("Incorrect API key provided: sk-test-openai-key-0123456789.",
                         "invalid_request_error", "invalid_api_key"), {},
         ProviderErrorCode.AUTH_FAILED, False, None),
        (403, error_body("Your organization must be verified", "invalid_request_error", None),
         {}, ProviderErrorCode.AUTH_FAILED, False, None),
        (500, error_body("The server had an error", "server_error", None), {"retry-after": "1"},
         ProviderErrorCode.UNAVAILABLE, True, 1.0),
        (503, {"unexpected": "html?"}, {}, ProviderErrorCode.UNAVAILABLE, True, None),
    ],
)  # fmt: skip
async def test_error_answers_become_provider_errors(
    status: int,
    body: Any,
    headers: dict[str, str],
    code: ProviderErrorCode,
    retryable: bool,
    retry_after: float | None,
) -> None:
    error = await failure(adapter_for(answering(status, body, headers)))
    assert (error.code, error.retryable, error.retry_after_seconds) == (
        code, retryable, retry_after,
    )  # fmt: skip
    assert error.http_status == status
    assert API_KEY not in error.message  # OpenAI echoes keys back


async def test_a_refusal_names_the_safety_system_and_its_code() -> None:
    body = error_body("Your request was rejected by the safety system.",
                      "image_generation_user_error", "moderation_blocked")  # fmt: skip
    error = await failure(adapter_for(answering(400, body)))
    assert error.provider_status == "moderation_blocked"
    assert "safety system" in error.message


# -- against the emulator -------------------------------------------------------------------


def emulated_adapter() -> tuple[OpenAIAdapter, Any]:
    app = create_openai_app(API_KEY)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return OpenAIAdapter(config(), http), app


async def test_the_emulator_accepts_the_adapters_request_and_answers_an_image() -> None:
    adapter, app = emulated_adapter()
    photo = sample_image("JPEG", size=(120, 80))
    style = sample_image(color=(200, 30, 30))
    settings = {
        "prompt": "poster",
        "size": "1536x1024",
        "output_format": "jpeg",
        "input_fidelity": "high",
        "template_media": [{"role": "style", "media_id": "m"}],
    }
    submission = await submit(
        adapter,
        job(
            Operation.STYLE_TRANSFER,
            settings=settings,
            photo=InputImage("photo", photo, "image/jpeg"),
            templates=(InputImage("style", style, "image/png"),),
        ),
    )
    assert submission.result.mime_type == "image/jpeg"
    assert submission.result.usage["total_tokens"] > 0
    edit = app.state.emulator.stats.last_edit
    assert [i["sha256"] for i in edit["images"]] == [
        imaging.sha256_hex(photo), imaging.sha256_hex(style),
    ]  # fmt: skip
    assert edit["fields"]["input_fidelity"] == "high" and edit["fields"]["size"] == "1536x1024"


@pytest.mark.parametrize(
    ("directive", "code", "retryable"),
    [
        ("error=429", ProviderErrorCode.QUOTA_EXHAUSTED, True),
        ("blocked", ProviderErrorCode.BLOCKED, False),
        ("no-image", ProviderErrorCode.NO_IMAGE, True),
        ("error=503", ProviderErrorCode.UNAVAILABLE, True),
        ("error=400", ProviderErrorCode.REJECTED, False),
    ],
)
async def test_emulated_failures_map_as_the_real_ones(
    directive: str, code: ProviderErrorCode, retryable: bool
) -> None:
    adapter, _ = emulated_adapter()
    with pytest.raises(ProviderError) as caught:
        photo = InputImage("photo", sample_image("JPEG"), "image/jpeg")
        await submit(adapter, job(settings={"prompt": f"x [emulate: {directive}]"}, photo=photo))
    assert (caught.value.code, caught.value.retryable) == (code, retryable)
    if directive == "error=429":
        assert caught.value.retry_after_seconds == 1.0
