from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any

import httpx
import pytest
from photochanger_emulators import imaging, running
from photochanger_emulators.testing import sample_image, wait_until
from photochanger_provider_gemini.emulator import create_gemini_app
from PIL import Image

FLASH = "/v1beta/models/gemini-2.5-flash-image:generateContent"
PRO = "/v1beta/models/gemini-3-pro-image-preview:generateContent"
GEMINI_KEY = "test-gemini-key"  # same as conftest
AUTH = {"x-goog-api-key": GEMINI_KEY}


def image_part(data: bytes, mime: str = "image/png", *, camel: bool = False) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    if camel:
        return {"inlineData": {"mimeType": mime, "data": encoded}}
    return {"inline_data": {"mime_type": mime, "data": encoded}}


def request_body(*parts: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": list(parts)}]}
    body["generationConfig"] = config if config is not None else {"responseModalities": ["IMAGE"]}
    return body


def output_image(answer: dict[str, Any]) -> Image.Image:
    parts = answer["candidates"][0]["content"]["parts"]
    blob = next(part["inlineData"] for part in parts if "inlineData" in part)
    assert blob["mimeType"] == "image/png"
    return Image.open(io.BytesIO(base64.b64decode(blob["data"])))


async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/_emulator/stats")
    assert answer.status_code == 200
    result: dict[str, Any] = answer.json()
    return result


# --- success paths ----------------------------------------------------------------------


async def test_edit_returns_a_processed_png_of_the_first_image(gemini: httpx.AsyncClient) -> None:
    photo = sample_image("JPEG", size=(120, 80))
    answer = await gemini.post(
        FLASH,
        headers=AUTH,
        json=request_body({"text": "make it a comic"}, image_part(photo, "image/jpeg")),
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    candidate = data["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["index"] == 0
    assert candidate["content"]["role"] == "model"
    assert [list(part) for part in candidate["content"]["parts"]] == [["inlineData"]]
    assert data["modelVersion"] == "gemini-2.5-flash-image"
    assert data["usageMetadata"]["candidatesTokenCount"] > 0
    result = output_image(data).convert("RGB")
    original = Image.open(io.BytesIO(photo)).convert("RGB")
    assert result.size == original.size
    assert result.getpixel((40, 30)) != original.getpixel((40, 30))


async def test_camel_case_and_text_modality(gemini: httpx.AsyncClient) -> None:
    answer = await gemini.post(
        FLASH,
        headers=AUTH,
        json=request_body(
            image_part(sample_image("WEBP"), "image/webp", camel=True),
            {"text": "add a hat"},
            config={"responseModalities": ["TEXT", "IMAGE"]},
        ),
    )
    assert answer.status_code == 200, answer.text
    parts = answer.json()["candidates"][0]["content"]["parts"]
    assert "text" in parts[0]
    assert "inlineData" in parts[1]


async def test_pro_model_takes_image_size_and_aspect_ratio(gemini: httpx.AsyncClient) -> None:
    answer = await gemini.post(
        PRO,
        headers=AUTH,
        json=request_body(
            {"text": "cinematic"},
            image_part(sample_image(size=(160, 160))),
            image_part(sample_image(color=(200, 10, 10))),  # a template image
            config={
                "responseModalities": ["IMAGE"],
                "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            },
        ),
    )
    assert answer.status_code == 200, answer.text
    assert output_image(answer.json()).size == (160, 90)


async def test_key_in_query_string_and_snake_case_config(gemini: httpx.AsyncClient) -> None:
    body = request_body(image_part(sample_image()), {"text": "x"})
    body["generation_config"] = {"response_modalities": ["IMAGE"], "image_config": {}}
    del body["generationConfig"]
    answer = await gemini.post(FLASH, params={"key": GEMINI_KEY}, json=body)
    assert answer.status_code == 200, answer.text


async def test_models_are_listed(gemini: httpx.AsyncClient) -> None:
    answer = await gemini.get("/v1beta/models", headers=AUTH)
    names = [model["name"] for model in answer.json()["models"]]
    assert names == ["models/gemini-2.5-flash-image", "models/gemini-3-pro-image-preview"]


# --- authentication ---------------------------------------------------------------------


async def test_missing_key_is_permission_denied(gemini: httpx.AsyncClient) -> None:
    answer = await gemini.post(FLASH, json=request_body({"text": "x"}))
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == 403
    assert error["status"] == "PERMISSION_DENIED"
    assert "unregistered callers" in error["message"]


async def test_wrong_key_is_api_key_invalid(gemini: httpx.AsyncClient) -> None:
    answer = await gemini.post(
        FLASH, headers={"x-goog-api-key": "nope"}, json=request_body({"text": "x"})
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


async def test_stats_never_show_the_key(gemini: httpx.AsyncClient) -> None:
    await gemini.post(FLASH, headers=AUTH, json=request_body({"text": "x"}))
    data = await stats(gemini)
    assert data["last_request"]["headers"]["x-goog-api-key"] == "<redacted>"
    assert GEMINI_KEY not in str(data)


# --- rejections -------------------------------------------------------------------------

PNG_B64 = base64.b64encode(sample_image()).decode()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        pytest.param(
            {"contents": [{"parts": [{"image": {"data": PNG_B64}}]}]},
            'Unknown name "image"',
            id="unknown-part-field",
        ),
        pytest.param(
            {
                "contents": [
                    {"parts": [{"inlinedata": {"mime_type": "image/png", "data": PNG_B64}}]}
                ]
            },
            'Unknown name "inlinedata"',
            id="wrong-casing-part",
        ),
        pytest.param(
            {"contents": [{"parts": [{"inlineData": {"mimetype": "image/png", "data": PNG_B64}}]}]},
            'Unknown name "mimetype"',
            id="wrong-casing-blob",
        ),
        pytest.param(
            {"contents": [{"parts": [{"text": "x"}]}], "generationconfig": {}},
            'Unknown name "generationconfig"',
            id="wrong-casing-top",
        ),
        pytest.param(
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "generationConfig": {"responseMimeType": "image/png"},
            },
            "response_mime_type",
            id="image-response-mime",
        ),
        pytest.param(
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "generationConfig": {"imageConfig": {"aspectRatio": "7:3"}},
            },
            "aspect ratio",
            id="bad-aspect-ratio",
        ),
        pytest.param(
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "generationConfig": {"imageConfig": {"imageSize": "2K"}},
            },
            "Image size is not supported",
            id="image-size-on-flash",
        ),
        pytest.param(
            {"contents": [{"parts": [{"inline_data": {"mime_type": "image/gif", "data": "R0"}}]}]},
            "Unsupported MIME type: image/gif",
            id="bad-mime",
        ),
        pytest.param(
            {"contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "!!"}}]}]},
            "Base64 decoding failed",
            id="bad-base64",
        ),
        pytest.param(
            {
                "contents": [
                    {
                        "parts": [
                            {
                                "inline_data": {
                                    "mime_type": "image/png",
                                    "data": base64.b64encode(b"not an image").decode(),
                                }
                            }
                        ]
                    }
                ]
            },
            "Provided image is not valid",
            id="not-an-image",
        ),
        pytest.param({"contents": []}, "contents is not specified", id="no-contents"),
        pytest.param(
            {"contents": [{"parts": [{"text": "x", "inline_data": {}}]}]},
            "Oneof field 'data' is already set",
            id="two-data-fields",
        ),
        pytest.param(
            {"contents": [{"role": "robot", "parts": [{"text": "x"}]}]},
            "valid role",
            id="bad-role",
        ),
        pytest.param(
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "safetySettings": [{"category": "HARM_CATEGORY_FUN", "threshold": "BLOCK_NONE"}],
            },
            "HarmCategory",
            id="bad-safety-category",
        ),
        pytest.param(
            {"contents": [{"parts": [{"text": "[emulate: explode]"}]}]},
            "unknown directive",
            id="bad-directive",
        ),
    ],
)
async def test_invalid_requests_are_rejected_like_google(
    gemini: httpx.AsyncClient, body: dict[str, Any], needle: str
) -> None:
    answer = await gemini.post(FLASH, headers=AUTH, json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert needle in error["message"]
    assert (await stats(gemini))["submissions"]["total"] == 0


async def test_image_size_must_be_known_on_pro(gemini: httpx.AsyncClient) -> None:
    body = request_body({"text": "x"}, config={"imageConfig": {"imageSize": "3K"}})
    answer = await gemini.post(PRO, headers=AUTH, json=body)
    assert answer.status_code == 400
    assert "image size" in answer.json()["error"]["message"]


async def test_unknown_model_is_not_found(gemini: httpx.AsyncClient) -> None:
    answer = await gemini.post(
        "/v1beta/models/gemini-1.0-pro:generateContent", headers=AUTH, json=request_body()
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == "NOT_FOUND"


async def test_invalid_json_is_rejected(gemini: httpx.AsyncClient) -> None:
    answer = await gemini.post(FLASH, headers=AUTH, content=b"{not json")
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_oversized_request_is_rejected() -> None:
    app = create_gemini_app(GEMINI_KEY, max_request_bytes=1024)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gemini.test") as client:
        body = request_body(image_part(sample_image(size=(300, 300))))
        answer = await client.post(FLASH, headers=AUTH, json=body)
    assert answer.status_code == 400
    assert "payload size exceeds the limit" in answer.json()["error"]["message"]


# --- directives -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (400, "INVALID_ARGUMENT"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
async def test_error_directive_gives_the_real_error_body(
    gemini: httpx.AsyncClient, code: int, status: str
) -> None:
    body = request_body({"text": f"go [emulate: error={code}]"}, image_part(sample_image()))
    answer = await gemini.post(FLASH, headers=AUTH, json=body)
    assert answer.status_code == code
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    assert error["message"]
    if code == 429:
        retry = [d for d in error["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
        assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]


async def test_directive_in_png_text_chunk(gemini: httpx.AsyncClient) -> None:
    photo = sample_image(emulate="error=429")
    answer = await gemini.post(
        FLASH, headers=AUTH, json=request_body({"text": "x"}, image_part(photo))
    )
    assert answer.status_code == 429


async def test_no_image_directive(gemini: httpx.AsyncClient) -> None:
    body = request_body({"text": "[emulate: no-image]"}, image_part(sample_image()))
    answer = await gemini.post(FLASH, headers=AUTH, json=body)
    assert answer.status_code == 200
    candidate = answer.json()["candidates"][0]
    assert candidate["finishReason"] == "NO_IMAGE"
    assert all(set(part) == {"text"} for part in candidate["content"]["parts"])


async def test_blocked_directive(gemini: httpx.AsyncClient) -> None:
    body = request_body({"text": "[emulate: blocked]"}, image_part(sample_image()))
    answer = await gemini.post(FLASH, headers=AUTH, json=body)
    assert answer.status_code == 200
    data = answer.json()
    assert data["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in data


async def test_fail_times_then_success_and_submission_counts(gemini: httpx.AsyncClient) -> None:
    photo = sample_image(emulate="fail-times=2,error=503")
    body = request_body({"text": "retry me"}, image_part(photo))
    codes = [(await gemini.post(FLASH, headers=AUTH, json=body)).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    other = request_body({"text": "retry me"}, image_part(sample_image(emulate="fail-times=2")))
    assert (await gemini.post(FLASH, headers=AUTH, json=other)).status_code == 503
    data = await stats(gemini)
    assert data["submissions"]["total"] == 4
    assert data["submissions"]["by_image_sha256"][imaging.sha256_hex(photo)] == 3
    assert data["responses_by_status"] == {"503": 3, "200": 1}


async def test_slow_directive_delays_the_answer(gemini: httpx.AsyncClient) -> None:
    body = request_body({"text": "[emulate: slow=0.3]"}, image_part(sample_image()))
    started = time.monotonic()
    answer = await gemini.post(FLASH, headers=AUTH, json=body)
    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_slow_request_abandoned_by_the_client_is_recorded(
    gemini_live: httpx.AsyncClient,
) -> None:
    body = request_body({"text": "[emulate: slow=30]"}, image_part(sample_image()))
    with pytest.raises(httpx.ReadTimeout):
        await gemini_live.post(FLASH, headers=AUTH, json=body, timeout=0.3)

    async def released() -> bool:
        data = await stats(gemini_live)
        return bool(data["client_disconnects"] == 1 and data["in_flight"] == 0)

    await wait_until(released)


async def test_hang_holds_the_request_until_the_client_leaves(
    gemini_live: httpx.AsyncClient,
) -> None:
    body = request_body({"text": "[emulate: hang]"}, image_part(sample_image()))
    with pytest.raises(httpx.ReadTimeout):
        await gemini_live.post(FLASH, headers=AUTH, json=body, timeout=0.5)

    async def released() -> bool:
        data = await stats(gemini_live)
        return bool(data["outcomes"].get("client_gone") == 1 and data["in_flight"] == 0)

    await wait_until(released)


async def test_stopping_the_server_does_not_wait_for_a_hanging_request() -> None:
    app = create_gemini_app(GEMINI_KEY)
    body = request_body({"text": "[emulate: hang]"}, image_part(sample_image()))
    async with running(app, shutdown_grace=1) as base_url:
        client = httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=30)
        pending = asyncio.ensure_future(client.post(FLASH, headers=AUTH, json=body))

        async def holding() -> bool:
            return bool(app.state.emulator.stats.in_flight == 1)

        await wait_until(holding)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    try:
        answer = await pending
    except httpx.TransportError:
        pass  # the connection was dropped
    else:
        assert answer.status_code == 500  # uvicorn's answer for a cancelled application
    await client.aclose()


async def test_reset_clears_counters_and_fail_times(gemini: httpx.AsyncClient) -> None:
    body = request_body({"text": "[emulate: fail-times=1]"}, image_part(sample_image()))
    assert (await gemini.post(FLASH, headers=AUTH, json=body)).status_code == 503
    assert (await gemini.post("/_emulator/reset")).json() == {"reset": True}
    assert (await stats(gemini))["submissions"]["total"] == 0
    assert (await gemini.post(FLASH, headers=AUTH, json=body)).status_code == 503


# --- fixed rendering (an instant provider for load tests) -----------------------------------


@pytest.fixture
async def gemini_fixed() -> Any:
    app = create_gemini_app(GEMINI_KEY, render="fixed")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gemini.test") as client:
        yield client


def _output_png(answer: httpx.Response) -> bytes:
    parts = answer.json()["candidates"][0]["content"]["parts"]
    blob = next(part["inlineData"] for part in parts if "inlineData" in part)
    assert blob["mimeType"] == "image/png"
    return base64.b64decode(blob["data"])


async def test_fixed_render_answers_one_prerendered_photo(gemini_fixed: httpx.AsyncClient) -> None:
    health = await gemini_fixed.get("/_emulator/health")
    assert health.json()["render"] == "fixed"
    first, second = sample_image("JPEG", size=(300, 200)), sample_image("PNG", color=(1, 2, 3))
    answers = [
        await gemini_fixed.post(
            FLASH, headers=AUTH, json=request_body({"text": "edit"}, image_part(photo, mime))
        )
        for photo, mime in ((first, "image/jpeg"), (second, "image/png"))
    ]
    assert [a.status_code for a in answers] == [200, 200]
    png = _output_png(answers[0])
    assert png == _output_png(answers[1])  # the same bytes, whatever the input
    picture = Image.open(io.BytesIO(png))
    assert picture.size == (1024, 682)  # a 1024-px answer, like the real model's
    assert len(png) > 300_000  # photo-like content: a realistic size, not a flat picture
    data = await stats(gemini_fixed)
    assert data["submissions"]["total"] == 2
    assert data["submissions"]["by_image_sha256"] == {
        imaging.sha256_hex(first): 1,
        imaging.sha256_hex(second): 1,
    }
    assert data["outcomes"]["image"] == 2


async def test_fixed_render_does_not_decode_the_input(
    gemini: httpx.AsyncClient, gemini_fixed: httpx.AsyncClient
) -> None:
    photo = sample_image("JPEG", size=(300, 200))
    truncated = photo[: len(photo) // 2]  # the header is fine, the pixels are cut off
    body = request_body({"text": "edit"}, image_part(truncated, "image/jpeg"))
    assert (await gemini.post(FLASH, headers=AUTH, json=body)).status_code == 400
    assert (await gemini_fixed.post(FLASH, headers=AUTH, json=body)).status_code == 200


async def test_fixed_render_still_validates_the_request(gemini_fixed: httpx.AsyncClient) -> None:
    not_an_image = request_body({"text": "x"}, image_part(b"plain text", "image/png"))
    assert (await gemini_fixed.post(FLASH, headers=AUTH, json=not_an_image)).status_code == 400
    bad_mime = request_body({"text": "x"}, image_part(sample_image(), "image/gif"))
    assert (await gemini_fixed.post(FLASH, headers=AUTH, json=bad_mime)).status_code == 400
    assert (await gemini_fixed.post(FLASH, json=request_body({"text": "x"}))).status_code == 403


async def test_fixed_render_honours_aspect_ratio_and_model(gemini_fixed: httpx.AsyncClient) -> None:
    config = {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "1:1"}}
    body = request_body({"text": "x"}, image_part(sample_image()), config=config)
    flash = await gemini_fixed.post(FLASH, headers=AUTH, json=body)
    pro = await gemini_fixed.post(PRO, headers=AUTH, json=body)
    flash_png, pro_png = (
        Image.open(io.BytesIO(_output_png(flash))),
        Image.open(io.BytesIO(_output_png(pro))),
    )
    assert flash_png.size == pro_png.size == (682, 682)
    assert flash_png.convert("RGB").getpixel((0, 0)) == (255, 140, 0)  # each model's frame
    assert pro_png.convert("RGB").getpixel((0, 0)) == (200, 0, 200)


async def test_fixed_render_keeps_directives_from_a_jpeg_comment(
    gemini_fixed: httpx.AsyncClient,
) -> None:
    photo = sample_image("JPEG", emulate="error=429")
    body = request_body({"text": "x"}, image_part(photo, "image/jpeg"))
    assert (await gemini_fixed.post(FLASH, headers=AUTH, json=body)).status_code == 429
    slow = request_body(
        {"text": "x"}, image_part(sample_image("JPEG", emulate="slow=0.2"), "image/jpeg")
    )
    started = time.monotonic()
    assert (await gemini_fixed.post(FLASH, headers=AUTH, json=slow)).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_unknown_render_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="render"):
        create_gemini_app(GEMINI_KEY, render="lazy")  # type: ignore[arg-type]


def test_declared_factory_takes_the_render_mode_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from photochanger_provider_gemini.emulator import create_app

    monkeypatch.delenv("PHOTOCHANGER_EMULATOR_RENDER", raising=False)
    assert create_app(GEMINI_KEY).state.emulator.render == "full"
    monkeypatch.setenv("PHOTOCHANGER_EMULATOR_RENDER", " Fixed ")
    assert create_app(GEMINI_KEY).state.emulator.render == "fixed"
    monkeypatch.setenv("PHOTOCHANGER_EMULATOR_RENDER", "lazy")
    with pytest.raises(ValueError, match="PHOTOCHANGER_EMULATOR_RENDER"):
        create_app(GEMINI_KEY)


async def test_directive_in_jpeg_comment(gemini: httpx.AsyncClient) -> None:
    photo = sample_image("JPEG", emulate="error=503")
    answer = await gemini.post(
        FLASH, headers=AUTH, json=request_body({"text": "x"}, image_part(photo, "image/jpeg"))
    )
    assert answer.status_code == 503
