"""The GPT Image emulator: OpenAI's `images/edits` wire format, its errors, the directives."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from photochanger_emulators import emulator_factory, imaging, running
from photochanger_emulators.testing import sample_image, wait_until
from photochanger_provider_openai.emulator import create_openai_app
from PIL import Image

from .conftest import OPENAI_KEY

EDITS = "/v1/images/edits"


def files(*images: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("image[]", (f"in-{n}.png", data, "image/png")) for n, data in enumerate(images)]


async def edit(
    client: httpx.AsyncClient, *images: bytes, prompt: str = "make it warm", **fields: str
) -> httpx.Response:
    data = {"prompt": prompt, "model": "gpt-image-1.5", **fields}
    return await client.post(EDITS, data=data, files=files(*(images or (sample_image(),))))


def decoded(answer: dict[str, Any]) -> bytes:
    (item,) = answer["data"]
    return base64.b64decode(item["b64_json"])


async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
    data: dict[str, Any] = (await client.get("/_emulator/stats")).json()
    return data


def test_the_emulator_is_declared_for_the_provider() -> None:
    assert emulator_factory("openai") is create_openai_app


# -- success --------------------------------------------------------------------------------


async def test_an_edit_answers_b64_json_in_the_size_format_and_with_usage(
    openai: httpx.AsyncClient,
) -> None:
    photo = sample_image(size=(300, 300))
    style = sample_image(color=(250, 0, 0))
    answer = await edit(openai, photo, style, size="1536x1024", output_format="webp",
                        quality="high", background="opaque")  # fmt: skip

    assert answer.status_code == 200, answer.text
    body = answer.json()
    picture = decoded(body)
    assert imaging.sniff(picture) == imaging.WEBP
    width, height = Image.open(io.BytesIO(picture)).size
    assert abs(width / height - 1.5) < 0.02  # 1536x1024 is 3:2
    assert (body["size"], body["quality"], body["output_format"]) == ("1536x1024", "high", "webp")
    usage = body["usage"]
    assert usage["input_tokens_details"]["image_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    data = await stats(openai)
    assert data["submissions"]["by_image_sha256"] == {imaging.sha256_hex(photo): 1}
    assert [i["sha256"] for i in data["last_edit"]["images"]] == [
        imaging.sha256_hex(photo), imaging.sha256_hex(style),
    ]  # fmt: skip
    assert data["last_request"]["headers"]["authorization"] == "<redacted>"
    assert OPENAI_KEY not in str(data)


async def test_the_single_image_field_name_is_accepted_too(openai: httpx.AsyncClient) -> None:
    answer = await openai.post(
        EDITS,
        data={"prompt": "x", "model": "gpt-image-1"},
        files=[("image", ("a.png", sample_image(), "image/png"))],
    )
    assert answer.status_code == 200, answer.text
    assert imaging.sniff(decoded(answer.json())) == imaging.PNG


# -- auth and validation --------------------------------------------------------------------


async def test_a_missing_or_wrong_key_is_401_in_openais_error_shape() -> None:
    app = create_openai_app(OPENAI_KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://openai.test"
    ) as client:
        missing = await edit(client)
        wrong = await client.post(
            EDITS, data={"prompt": "x"}, files=files(sample_image()),
            headers={"authorization": "Bearer sk-wrong"},
        )  # fmt: skip
    assert missing.status_code == 401 and missing.json()["error"]["code"] is None
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert set(wrong.json()["error"]) == {"message", "type", "param", "code"}
    assert app.state.emulator.stats.auth_failures == 2


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "512x512"}, "size"),
        ({"quality": "ultra"}, "quality"),
        ({"model": "dall-e-3"}, "model"),
        ({"model": "gpt-image-1-mini", "input_fidelity": "high"}, "input_fidelity"),
        ({"background": "transparent", "output_format": "jpeg"}, "background"),
        ({"output_compression": "50"}, "output_compression"),
        ({"response_format": "url"}, "response_format"),
        ({"n": "2"}, "n"),
    ],
)
async def test_values_the_api_refuses_are_400_naming_the_param(
    openai: httpx.AsyncClient, fields: dict[str, str], param: str
) -> None:
    answer = await edit(openai, **fields)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


async def test_a_missing_prompt_or_image_and_a_non_image_are_400(
    openai: httpx.AsyncClient,
) -> None:
    no_prompt = await openai.post(
        EDITS, data={"model": "gpt-image-1.5"}, files=files(sample_image())
    )
    mask_only = await openai.post(
        EDITS, data={"prompt": "x"}, files=[("mask", ("m.png", sample_image(), "image/png"))]
    )
    not_image = await edit(openai, b"GIF89a not really")
    assert no_prompt.json()["error"]["param"] == "prompt"
    assert mask_only.json()["error"]["param"] == "image"
    assert not_image.json()["error"]["code"] == "invalid_image_format"
    assert (await stats(openai))["submissions"]["total"] == 0


# -- directives -----------------------------------------------------------------------------


async def test_error_429_is_a_rate_limit_with_retry_after(openai: httpx.AsyncClient) -> None:
    answer = await edit(openai, prompt="x [emulate: error=429]")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "server_error"), (503, "server_is_overloaded"), (401, "invalid_api_key")],
)
async def test_error_codes_answer_the_real_error_bodies(
    openai: httpx.AsyncClient, status: int, code: str
) -> None:
    answer = await edit(openai, sample_image(emulate=f"error={status}"))
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


async def test_blocked_is_a_moderation_refusal(openai: httpx.AsyncClient) -> None:
    answer = await edit(openai, prompt="[emulate: blocked] something")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == ("image_generation_user_error", "moderation_blocked")


async def test_no_image_is_a_success_without_data(openai: httpx.AsyncClient) -> None:
    answer = await edit(openai, prompt="[emulate: no-image]")
    assert answer.status_code == 200 and answer.json()["data"] == []


async def test_fail_times_fails_the_same_photo_k_times_then_succeeds(
    openai: httpx.AsyncClient,
) -> None:
    photo = sample_image(emulate="fail-times=2, error=429")
    statuses = [(await edit(openai, photo)).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    other = await edit(openai, sample_image(emulate="fail-times=2, error=429", color=(1, 2, 3)))
    assert other.status_code == 429  # another photo counts on its own


async def test_slow_and_hang_hold_the_answer_and_notice_a_client_that_leaves() -> None:
    app = create_openai_app(OPENAI_KEY)
    auth = {"authorization": f"Bearer {OPENAI_KEY}"}
    async with running(app) as base_url, httpx.AsyncClient(base_url=base_url, headers=auth) as c:
        slow = await edit(c, prompt="[emulate: slow=0.3]")
        assert slow.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            await c.post(EDITS, data={"prompt": "[emulate: hang]"}, files=files(sample_image()),
                         timeout=0.5)  # fmt: skip
        emulator = app.state.emulator

        async def noticed() -> bool:
            return bool(emulator.stats.client_disconnects == 1 and emulator.stats.in_flight == 0)

        await wait_until(noticed, timeout=5)
        assert emulator.stats.outcomes["client_gone"] == 1


async def test_reset_clears_counters_and_fail_times(openai: httpx.AsyncClient) -> None:
    photo = sample_image(emulate="fail-times=1")
    assert (await edit(openai, photo)).status_code == 503
    await openai.post("/_emulator/reset")
    assert (await stats(openai))["submissions"]["total"] == 0
    assert (await edit(openai, photo)).status_code == 503  # the history went too
    assert (await openai.get("/_emulator/health")).json() == {"status": "ok", "provider": "openai"}
