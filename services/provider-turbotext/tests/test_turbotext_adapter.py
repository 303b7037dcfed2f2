"""TurbotextAdapter against recorded-shape `api_ai` answers, through httpx.MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from photochanger_contracts import (
    InputImage,
    Operation,
    PollResult,
    ProviderAdapter,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
)
from photochanger_provider_turbotext import (
    TurbotextAdapter,
    TurbotextRequest,
    parse_queue_reference,
    queue_reference,
)
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.testing import (
    JPEG,
    PNG,
    Handler,
    mocked_http,
    provider_input,
)
from pydantic import SecretStr

API_KEY = "tt-secret-key-9f8e7d6c5b4a"
BASE_URL = "https://www.turbotext.test"
PUBLIC = "https://photochanger.test/public/media"


#: origins these tests fetch results from: none of them resolves (MockTransport answers), so
#: they are trusted like a local emulator; the URL policy itself is tested below
TRUSTED = (BASE_URL, "https://cdn.example")


def config(
    *,
    api_key: str | None = API_KEY,
    poll_interval: float = 2.5,
    trusted: tuple[str, ...] = TRUSTED,
) -> ProviderConfig:
    return ProviderConfig(
        provider_id="turbotext",
        base_url=BASE_URL,
        api_key=SecretStr(api_key) if api_key is not None else None,
        request_timeout_seconds=15,
        poll_interval_seconds=poll_interval,
        needs_public_urls=True,
        result_hosts=("turbotext.test", "*.turbotext.test"),
        trusted_local_origins=trusted,
    )


def adapter_for(handler: Handler, **kwargs: Any) -> TurbotextAdapter:
    cfg = kwargs.pop("config", None) or config()
    return TurbotextAdapter(cfg, mocked_http(handler), **kwargs)


def image(role: str, *, mime: str = "image/jpeg", url: str | None = "default") -> InputImage:
    public_url = f"{PUBLIC}/tok-{role}" if url == "default" else url
    return InputImage(role=role, data=JPEG, mime_type=mime, public_url=public_url)


def job(
    operation: Operation = Operation.IMAGE_EDIT,
    *,
    settings: dict[str, Any] | None = None,
    templates: tuple[InputImage, ...] = (),
    photo: InputImage | None = None,
) -> ProviderInput:
    return provider_input(
        "slot-002",
        operation=operation,
        settings=settings if settings is not None else {"prompt": "winter forest"},
        photo=photo or image("photo"),
        templates=templates,
    )


def form_of(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def answering(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


class Script:
    """Answers requests in order and remembers them."""

    def __init__(self, *responses: httpx.Response) -> None:
        self._responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._responses.pop(0)


async def create_failure(
    adapter: TurbotextAdapter, provider_input: ProviderInput | None = None
) -> Any:
    prepared = await adapter.prepare_payload(provider_input or job())
    with pytest.raises(ProviderError) as caught:
        await adapter.submit_job(prepared, timeout=10)
    return caught.value


async def poll_failure(adapter: TurbotextAdapter, reference: str = "mix_images:77") -> Any:
    with pytest.raises(ProviderError) as caught:
        await adapter.poll_status(reference, timeout=10)
    return caught.value


# -- create_queue ---------------------------------------------------------------------------


async def test_image_edit_creates_a_generate_image2image_queue_with_only_the_set_fields() -> None:
    script = Script(httpx.Response(200, json={"success": True, "queueid": 5123}))
    adapter = adapter_for(script)
    settings = {"prompt": "winter forest", "strength": 55, "seed": 42, "scale": 7.5}
    prepared = await adapter.prepare_payload(job(settings=settings))
    submission = await adapter.submit_job(prepared, timeout=10)

    assert submission.reference == "generate_image2image:5123"
    assert submission.result is None
    (request,) = script.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/api_ai/generate_image2image"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == [
        ("do", "create_queue"),
        ("url", f"{PUBLIC}/tok-photo"),
        ("content", "winter forest"),
        ("strength", "55"),
        ("seed", "42"),
        ("scale", "7.5"),
    ]


async def test_image_edit_sends_negative_prompt_and_language_when_set() -> None:
    adapter = adapter_for(answering(200, {"success": True, "queueid": 1}))
    settings = {"prompt": "лес", "negative_prompt": "blur", "original_language": "ru"}
    prepared = await adapter.prepare_payload(job(settings=settings))
    assert dict(prepared.form) == {
        "url": f"{PUBLIC}/tok-photo",
        "content": "лес",
        "strength": "40",
        "negative_prompt": "blur",
        "original_language": "ru",
    }


async def test_style_transfer_creates_a_mix_images_queue_with_the_style_template() -> None:
    script = Script(httpx.Response(200, json={"success": True, "queueid": 9}))
    adapter = adapter_for(script)
    settings = {"prompt": "oil painting", "template_media": [{"role": "style", "media_id": "m"}]}
    prepared = await adapter.prepare_payload(
        job(Operation.STYLE_TRANSFER, settings=settings, templates=(image("style"),))
    )
    submission = await adapter.submit_job(prepared, timeout=10)

    assert submission.reference == "mix_images:9"
    (request,) = script.requests
    assert str(request.url) == f"{BASE_URL}/api_ai/mix_images"
    # url_image_target = the photo to process, url = the style source
    assert form_of(request) == [
        ("do", "create_queue"),
        ("url_image_target", f"{PUBLIC}/tok-photo"),
        ("url", f"{PUBLIC}/tok-style"),
        ("content", "oil painting"),
    ]


@pytest.mark.parametrize(("face_restore", "sent"), [(True, "1"), (False, "0"), (None, None)])
async def test_identity_transfer_creates_a_deepfake_photo_queue(
    face_restore: bool | None, sent: str | None
) -> None:
    script = Script(httpx.Response(200, json={"success": True, "queueid": "314"}))
    adapter = adapter_for(script)
    settings: dict[str, Any] = {"template_media": [{"role": "base", "media_id": "m"}]}
    if face_restore is not None:
        settings["face_restore"] = face_restore
    prepared = await adapter.prepare_payload(
        job(Operation.IDENTITY_TRANSFER, settings=settings, templates=(image("base"),))
    )
    submission = await adapter.submit_job(prepared, timeout=10)

    assert submission.reference == "deepfake_photo:314"
    (request,) = script.requests
    assert str(request.url) == f"{BASE_URL}/api_ai/deepfake_photo"
    # url = the picture whose face is replaced, url_image_target = the face to put in
    expected = [
        ("do", "create_queue"),
        ("url", f"{PUBLIC}/tok-base"),
        ("url_image_target", f"{PUBLIC}/tok-photo"),
    ]
    if sent is not None:
        expected.append(("face_restore", sent))
    assert form_of(request) == expected


async def test_create_refused_by_turbotext_is_rejected_and_not_retryable() -> None:
    body = {"success": False, "error": "Недостаточно средств на балансе"}
    error = await create_failure(adapter_for(answering(200, body)))
    assert error.code is ProviderErrorCode.REJECTED
    assert error.retryable is False
    assert "Недостаточно средств" in error.message


async def test_create_answer_without_queueid_is_a_bad_response() -> None:
    error = await create_failure(adapter_for(answering(200, {"success": True})))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False


async def test_create_answer_that_is_not_json_is_a_bad_response_and_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    error = await create_failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False  # a queue may exist: creating again would bill twice


@pytest.mark.parametrize("status", [401, 403])
async def test_create_with_a_bad_key_is_auth_failed(status: int) -> None:
    body = {"success": False, "error": "Invalid token"}
    error = await create_failure(adapter_for(answering(status, body)))
    assert error.code is ProviderErrorCode.AUTH_FAILED
    assert error.retryable is False
    assert error.http_status == status


async def test_create_429_is_retryable_quota_with_retry_after() -> None:
    error = await create_failure(adapter_for(answering(429, {}, {"Retry-After": "7"})))
    assert error.code is ProviderErrorCode.QUOTA_EXHAUSTED
    assert error.retryable is True
    assert error.retry_after_seconds == 7.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_create_server_error_is_retryable_unavailable(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<h1>Bad Gateway</h1>")

    error = await create_failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.UNAVAILABLE
    assert error.retryable is True
    assert error.http_status == status


async def test_create_timeout_is_retryable_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    error = await create_failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.TIMEOUT
    assert error.retryable is True


async def test_create_connection_error_is_retryable_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    error = await create_failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.UNAVAILABLE
    assert error.retryable is True


# -- prepare --------------------------------------------------------------------------------


@pytest.mark.parametrize("mime", ["image/heic", "image/heif"])
async def test_heic_photo_is_unsupported_input(mime: str) -> None:
    adapter = adapter_for(answering(200, {}))
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(photo=image("photo", mime=mime)))
    assert caught.value.code is ProviderErrorCode.UNSUPPORTED_INPUT
    assert caught.value.retryable is False


async def test_heic_style_template_is_unsupported_input() -> None:
    adapter = adapter_for(answering(200, {}))
    settings = {"prompt": "p", "template_media": [{"role": "style", "media_id": "m"}]}
    style = image("style", mime="image/heic")
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(
            job(Operation.STYLE_TRANSFER, settings=settings, templates=(style,))
        )
    assert caught.value.code is ProviderErrorCode.UNSUPPORTED_INPUT


async def test_input_without_public_url_is_unsupported_input() -> None:
    adapter = adapter_for(answering(200, {}))
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(photo=image("photo", url=None)))
    assert caught.value.code is ProviderErrorCode.UNSUPPORTED_INPUT


async def test_identity_transfer_without_base_template_is_invalid_settings() -> None:
    adapter = adapter_for(answering(200, {}))
    settings = {"template_media": [{"role": "base", "media_id": "m"}]}
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(Operation.IDENTITY_TRANSFER, settings=settings))
    assert caught.value.code is ProviderErrorCode.INVALID_SLOT_SETTINGS


async def test_out_of_range_settings_are_invalid_settings() -> None:
    adapter = adapter_for(answering(200, {}))
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job(settings={"prompt": "p", "strength": 99}))
    assert caught.value.code is ProviderErrorCode.INVALID_SLOT_SETTINGS
    assert "strength" in caught.value.message


@pytest.mark.parametrize("api_key", [None, ""])
async def test_missing_api_key_is_not_configured_at_prepare(api_key: str | None) -> None:
    adapter = adapter_for(answering(200, {}), config=config(api_key=api_key))
    with pytest.raises(ProviderError) as caught:
        await adapter.prepare_payload(job())
    assert caught.value.code is ProviderErrorCode.NOT_CONFIGURED


# -- get_result and the download ------------------------------------------------------------


async def test_reconnect_then_success_downloads_the_relative_image_url_with_the_key() -> None:
    script = Script(
        httpx.Response(200, json={"action": "reconnect"}),
        httpx.Response(
            200,
            json={"success": True, "data": {"uploaded_image": "/image/generate/u1/abc.png"}},
        ),
        httpx.Response(200, content=PNG, headers={"content-type": "image/png"}),
    )
    adapter = adapter_for(script)

    first = await adapter.poll_status("mix_images:77", timeout=10)
    second = await adapter.poll_status("mix_images:77", timeout=10)

    assert first == PollResult(done=False)
    assert second.done is True
    assert second.result is not None
    assert second.result.data == PNG
    assert second.result.mime_type == "image/png"
    poll1, poll2, download = script.requests
    for poll in (poll1, poll2):
        assert poll.method == "POST"
        assert str(poll.url) == f"{BASE_URL}/api_ai/mix_images"
        assert poll.headers["authorization"] == f"Bearer {API_KEY}"
        assert form_of(poll) == [("do", "get_result"), ("queueid", "77")]
    assert download.method == "GET"
    assert str(download.url) == f"{BASE_URL}/image/generate/u1/abc.png"
    assert download.headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"success": True, "uploaded_image": "/r/top.png", "data": {}}, "/r/top.png"),
        ({"success": True, "data": {"uploaded_image": "/r/data.png"}}, "/r/data.png"),
        ({"success": True, "data": {"image": ["/r/list.png", "/r/2.png"]}}, "/r/list.png"),
        # several present: top level, then data.uploaded_image, then data.image[0]
        ({"success": True, "uploaded_image": "/r/top.png",
          "data": {"uploaded_image": "/r/data.png", "image": ["/r/list.png"]}}, "/r/top.png"),
        ({"success": True, "uploaded_image": "",
          "data": {"uploaded_image": "/r/data.png", "image": ["/r/list.png"]}}, "/r/data.png"),
        ({"success": True, "data": {"uploaded_image": None, "image": ["/r/list.png"]}},
         "/r/list.png"),
    ],
)  # fmt: skip
async def test_every_documented_result_location_is_read(answer: Any, expected: str) -> None:
    script = Script(httpx.Response(200, json=answer), httpx.Response(200, content=PNG))
    result = await adapter_for(script).poll_status("deepfake_photo:5", timeout=10)
    assert result.done and result.result is not None and result.result.data == PNG
    assert str(script.requests[1].url) == f"{BASE_URL}{expected}"


async def test_image_on_another_host_is_downloaded_without_the_key() -> None:
    script = Script(
        httpx.Response(
            200,
            json={"success": True, "data": {"uploaded_image": "https://cdn.example/r/1.jpg"}},
        ),
        httpx.Response(200, content=JPEG),
    )
    result = await adapter_for(script).poll_status("generate_image2image:5", timeout=10)
    assert result.result is not None and result.result.mime_type == "image/jpeg"
    download = script.requests[1]
    assert str(download.url) == "https://cdn.example/r/1.jpg"
    assert "authorization" not in download.headers


async def test_failed_job_is_job_failed_and_not_retryable() -> None:
    body = {"success": False, "error": "Лицо не найдено"}
    error = await poll_failure(adapter_for(answering(200, body)), "deepfake_photo:12")
    assert error.code is ProviderErrorCode.JOB_FAILED
    assert error.retryable is False
    assert "Лицо не найдено" in error.message


@pytest.mark.parametrize(
    "body",
    [
        {"success": True},
        {"success": True, "data": {"uploaded_image": ""}},
        {"success": True, "uploaded_image": "", "data": {"image": []}},
        {"action": "wait"},
        {},
        ["reconnect"],
    ],
)
async def test_get_result_answer_of_unknown_shape_is_a_bad_response(body: Any) -> None:
    error = await poll_failure(adapter_for(answering(200, body)))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.retryable is False


async def test_get_result_answer_that_is_not_json_is_a_bad_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="Fatal error: Uncaught Exception in /var/www/api.php")

    error = await poll_failure(adapter_for(handler))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert "not valid JSON" in error.message


async def test_downloaded_bytes_that_are_not_an_image_are_a_bad_response() -> None:
    script = Script(
        httpx.Response(200, json={"success": True, "data": {"uploaded_image": "/img/1.png"}}),
        httpx.Response(
            200, text="<html>404 Not Found</html>", headers={"content-type": "text/html"}
        ),
    )
    error = await poll_failure(adapter_for(script))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert "not an image" in error.message


async def test_download_404_is_a_bad_response() -> None:
    script = Script(
        httpx.Response(200, json={"success": True, "data": {"uploaded_image": "/img/1.png"}}),
        httpx.Response(404, text="not found"),
    )
    error = await poll_failure(adapter_for(script))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.http_status == 404


async def test_huge_download_is_refused_without_reading_it_all() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield PNG
        for _ in range(1000):
            sent.append(1)
            yield b"\x00" * 1024

    script = Script(
        httpx.Response(200, json={"success": True, "data": {"uploaded_image": "/img/1.png"}}),
        httpx.Response(200, content=endless()),
    )
    error = await poll_failure(adapter_for(script, max_image_bytes=8 * 1024))
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert "larger than" in error.message
    assert len(sent) < 20


async def test_unusable_result_url_is_a_bad_response() -> None:
    body = {"success": True, "data": {"uploaded_image": "ftp://files.example/1.png"}}
    error = await poll_failure(adapter_for(answering(200, body)))
    assert error.code is ProviderErrorCode.BAD_RESPONSE


async def test_poll_server_error_is_retryable_unavailable() -> None:
    error = await poll_failure(adapter_for(answering(503, {"error": "overloaded"})))
    assert error.code is ProviderErrorCode.UNAVAILABLE
    assert error.retryable is True
    assert "overloaded" in error.message


@pytest.mark.parametrize("reference", ["12", "mix_images:", "unknown:12", "mix_images:x1", ""])
async def test_reference_that_is_not_ours_is_a_bad_response(reference: str) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"action": "reconnect"})

    error = await poll_failure(adapter_for(handler), reference)
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert calls == []


def test_reference_carries_method_and_queue_id() -> None:
    reference = queue_reference("deepfake_photo", 4242)
    assert reference == "deepfake_photo:4242"
    assert parse_queue_reference(reference) == ("deepfake_photo", 4242)


# -- the rest of the protocol ---------------------------------------------------------------


def test_adapter_satisfies_the_provider_adapter_protocol() -> None:
    adapter = adapter_for(answering(200, {}), config=config(poll_interval=1.75))
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.provider_id == "turbotext"
    assert adapter.needs_public_urls is True
    assert adapter.poll_interval_seconds == 1.75
    assert adapter.accepted_mime_types == {"image/jpeg", "image/png", "image/webp"}


async def test_cancel_is_a_no_op_without_http() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    await adapter_for(handler).cancel_job("mix_images:1")
    assert calls == []


async def test_prepared_request_is_plain_data() -> None:
    adapter = adapter_for(answering(200, {}))
    prepared = await adapter.prepare_payload(job())
    assert isinstance(prepared, TurbotextRequest)
    assert prepared.method == "generate_image2image"
    assert API_KEY not in repr(prepared)


# -- secrets --------------------------------------------------------------------------------


async def test_no_error_message_contains_the_api_key() -> None:
    echo = f"bad token {API_KEY}"

    def raising(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused for Bearer {API_KEY}", request=request)

    create_handlers: list[Handler] = [
        answering(200, {"success": False, "error": echo}),
        answering(401, {"error": echo}),
        answering(429, {"error": echo}),
        answering(500, {"message": echo}),
        raising,
    ]
    errors = [await create_failure(adapter_for(h)) for h in create_handlers]
    errors.append(
        await poll_failure(adapter_for(answering(200, {"success": False, "error": echo})))
    )
    errors.append(await poll_failure(adapter_for(answering(403, {"error": echo}))))
    for error in errors:
        for text in (str(error), repr(error), error.message):
            assert API_KEY not in text


# -- against the emulator: the right picture in each field ----------------------------------


async def _run_against_the_emulator(
    media: Any, operation: Operation, photo: bytes, template: bytes, role: str
) -> dict[str, Any]:
    """prepare → submit → poll → download through the emulator (which really downloads the
    public links); the emulator's record of which picture it took as what."""
    from photochanger_emulators.testing import wait_until
    from photochanger_provider_turbotext.emulator import create_turbotext_app

    app = create_turbotext_app(API_KEY, default_polls=0)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    adapter = TurbotextAdapter(config(poll_interval=0), http)
    images = (
        InputImage("photo", photo, "image/png", media.add(f"{role}-photo.png", photo)),
        InputImage(role, template, "image/png", media.add(f"{role}-template.png", template)),
    )
    settings = {"prompt": "x", "template_media": [{"role": role, "media_id": "m"}]}
    prepared = await adapter.prepare_payload(
        job(operation, settings=settings, photo=images[0], templates=(images[1],))
    )
    submission = await adapter.submit_job(prepared, timeout=10)
    assert submission.reference is not None
    done: list[PollResult] = []

    async def finished() -> bool:
        done.append(await adapter.poll_status(submission.reference or "", timeout=10))
        return done[-1].done

    try:
        await wait_until(finished, timeout=10)
        assert done[-1].result is not None and done[-1].result.data.startswith(b"\x89PNG")
        stats = (await http.get("/_emulator/stats")).json()
    finally:
        await app.state.emulator.cancel_work()
        await http.aclose()
    (queue,) = stats["queues"].values()
    record: dict[str, Any] = queue["inputs"]
    return record


async def test_style_transfer_sends_the_photo_as_target_and_the_template_as_style(
    media: Any,
) -> None:
    from photochanger_emulators import imaging
    from photochanger_emulators.testing import sample_image

    photo, style = sample_image(color=(10, 200, 30)), sample_image(color=(250, 40, 40))
    inputs = await _run_against_the_emulator(media, Operation.STYLE_TRANSFER, photo, style, "style")
    assert inputs["target"]["sha256"] == imaging.sha256_hex(photo)
    assert inputs["style"]["sha256"] == imaging.sha256_hex(style)


async def test_face_swap_puts_the_photos_face_into_the_base_template(media: Any) -> None:
    from photochanger_emulators import imaging
    from photochanger_emulators.testing import sample_image

    photo, base = sample_image(color=(10, 200, 30)), sample_image(color=(250, 40, 40))
    inputs = await _run_against_the_emulator(
        media, Operation.IDENTITY_TRANSFER, photo, base, "base"
    )
    assert inputs["base"]["sha256"] == imaging.sha256_hex(base)
    assert inputs["face"]["sha256"] == imaging.sha256_hex(photo)


# -- result URLs we do not fetch (SSRF) ----------------------------------------------------


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "only https"),
        ("https://127.0.0.1/x.png", "not on the allow-list"),
        ("https://evil.example/x.png", "not on the allow-list"),
        ("https://user:pw@www.turbotext.test/x.png", "credentials"),
        ("https://10.0.0.7/x.png", "not on the allow-list"),
    ],
)
async def test_a_result_url_off_the_policy_is_refused_without_a_request(
    location: str, why: str
) -> None:
    script = Script(
        httpx.Response(200, json={"success": True, "data": {"uploaded_image": location}})
    )
    error = await poll_failure(adapter_for(script, config=config(trusted=(BASE_URL,))))
    assert error.code is ProviderErrorCode.BAD_RESPONSE and not error.retryable
    assert error.message.startswith("turbotext result URL refused") and why in error.message
    assert len(script.requests) == 1  # the poll; nothing was fetched


async def test_a_redirect_to_an_internal_address_is_refused_before_it_is_followed() -> None:
    script = Script(
        httpx.Response(200, json={"success": True, "data": {"uploaded_image": "/r/1.png"}}),
        httpx.Response(302, headers={"location": "http://127.0.0.1:9092/"}),
    )
    error = await poll_failure(adapter_for(script, config=config(trusted=(BASE_URL,))))
    assert "only https" in error.message
    assert [str(r.url) for r in script.requests][1:] == [f"{BASE_URL}/r/1.png"]


async def test_a_failed_download_echoes_nothing_of_what_it_read() -> None:
    secret_page = "root:x:0:0:root:/root:/bin/bash"
    script = Script(
        httpx.Response(200, json={"success": True, "data": {"uploaded_image": "/r/1.png"}}),
        httpx.Response(403, json={"error": secret_page}),
    )
    error = await poll_failure(adapter_for(script))
    assert secret_page not in error.message and "403" in error.message
