from __future__ import annotations

import io
import time
from typing import Any

import httpx
import pytest
from photochanger_emulators import imaging, running
from photochanger_emulators.testing import sample_image, wait_until
from photochanger_provider_turbotext.emulator import create_turbotext_app
from PIL import Image

TURBOTEXT_KEY = "test-turbotext-key"  # same as conftest
I2I = "generate_image2image"


async def create(client: httpx.AsyncClient, method: str = I2I, **fields: str) -> httpx.Response:
    return await client.post(f"/api_ai/{method}", data={"do": "create_queue", **fields})


async def create_ok(client: httpx.AsyncClient, method: str = I2I, **fields: str) -> int:
    answer = await create(client, method, **fields)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["success"] is True, data
    assert isinstance(data["queueid"], int)
    queueid: int = data["queueid"]
    return queueid


async def poll(client: httpx.AsyncClient, queueid: int, method: str = I2I) -> dict[str, Any]:
    answer = await client.post(f"/api_ai/{method}", data={"do": "get_result", "queueid": queueid})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def stats(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    data: dict[str, Any] = (await client.get("/_emulator/stats", params=params)).json()
    return data


async def queue_state(client: httpx.AsyncClient, queueid: int) -> dict[str, Any]:
    state: dict[str, Any] = (await stats(client))["queues"][str(queueid)]
    return state


async def settled(client: httpx.AsyncClient, queueid: int) -> dict[str, Any]:
    """Wait until the queue's background work has finished (or hangs)."""

    async def done() -> bool:
        return bool((await queue_state(client, queueid))["state"] != "working")

    await wait_until(done)
    return await queue_state(client, queueid)


async def poll_to_end(
    client: httpx.AsyncClient, queueid: int, method: str = I2I, limit: int = 200
) -> tuple[dict[str, Any], int]:
    """Poll until the answer is no longer a reconnect; return it and the reconnect count."""
    await settled(client, queueid)
    for reconnects in range(limit):
        answer = await poll(client, queueid, method)
        if answer != {"action": "reconnect"}:
            return answer, reconnects
    pytest.fail(f"queue {queueid} still reconnecting after {limit} polls")


# --- success paths ----------------------------------------------------------------------


async def test_image2image_full_cycle(turbotext: httpx.AsyncClient, media: Any) -> None:
    photo = sample_image("JPEG", size=(120, 80))
    url = media.add("full-cycle.jpg", photo)
    queueid = await create_ok(
        turbotext,
        url=url,
        content="turn into a pencil drawing",
        strength="40",
        seed="7",
        scale="7.5",
        negative_prompt="blur",
        original_language="en",
    )
    answer, reconnects = await poll_to_end(turbotext, queueid)
    assert reconnects == 2  # the default before a result
    assert answer["success"] is True
    location = answer["data"]["uploaded_image"]
    assert location.startswith("/generated/") and location.endswith(".png")

    image = await turbotext.get(location)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    result = Image.open(io.BytesIO(image.content)).convert("RGB")
    original = Image.open(io.BytesIO(photo)).convert("RGB")
    assert result.size == original.size
    assert result.getpixel((40, 30)) != original.getpixel((40, 30))

    anonymous = await turbotext.get(location, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.json()["success"] is False

    data = await stats(turbotext)
    assert media.hits["full-cycle.jpg"] == 1
    assert data["submissions"]["total"] == 1
    assert data["submissions"]["by_image_sha256"] == {imaging.sha256_hex(photo): 1}
    assert data["polls"][str(queueid)] == 3
    record = data["queues"][str(queueid)]
    assert record["fields"]["strength"] == "40"
    assert record["polls_after_terminal"] == 0
    assert data["generated_downloads"] == 1
    assert data["last_request"]["headers"]["authorization"] == "<redacted>"
    assert TURBOTEXT_KEY not in str(data)


@pytest.mark.parametrize(
    ("method", "extra", "roles", "canvas", "photo"),
    [
        # mix_images: url_image_target = the photo to process, url = the style source
        ("mix_images", {"content": "van gogh"},
         {"style": "url", "target": "url_image_target"}, "url_image_target", "url_image_target"),
        # deepfake_photo: url = the picture whose face is replaced, url_image_target = the face
        ("deepfake_photo", {"face_restore": "1"},
         {"base": "url", "face": "url_image_target"}, "url", "url_image_target"),
    ],
)  # fmt: skip
async def test_two_image_methods_treat_each_field_as_turbotext_describes_it(
    turbotext: httpx.AsyncClient,
    media: Any,
    method: str,
    extra: dict[str, str],
    roles: dict[str, str],
    canvas: str,
    photo: str,
) -> None:
    images = {
        "url": sample_image(size=(96, 64)),
        "url_image_target": sample_image("WEBP", size=(50, 70), color=(200, 0, 0)),
    }
    links = {name: media.add(f"{method}-{name}", data) for name, data in images.items()}
    queueid = await create_ok(turbotext, method, **links, **extra)
    answer, _ = await poll_to_end(turbotext, queueid, method)
    assert answer["success"] is True
    assert all(media.hits[f"{method}-{name}"] == 1 for name in images)

    record = (await stats(turbotext))["queues"][str(queueid)]
    assert record["inputs"] == {
        role: {"field": name, "sha256": imaging.sha256_hex(images[name])}
        for role, name in roles.items()
    }
    assert record["image_sha256"] == imaging.sha256_hex(images[photo])
    # the result is drawn from the processed picture (its size), the other input is a thumbnail
    link = answer.get("uploaded_image") or answer["data"]["image"][0]
    result = Image.open(io.BytesIO((await turbotext.get(link)).content))
    assert result.size == Image.open(io.BytesIO(images[canvas])).size


async def test_each_method_puts_the_result_link_where_the_documentation_says(
    turbotext: httpx.AsyncClient, media: Any
) -> None:
    """Every place a client must read: top-level `uploaded_image` (Turbotext's samples),
    `data.uploaded_image` (what production clients read), `data.image[]` (deepfake_photo)."""
    photo = media.add("places.png", sample_image())
    i2i = await create_ok(turbotext, url=photo, content="x")
    mix = await create_ok(turbotext, "mix_images", url=photo, url_image_target=photo, content="x")
    swap = await create_ok(turbotext, "deepfake_photo", url=photo, url_image_target=photo)
    i2i_answer = (await poll_to_end(turbotext, i2i))[0]
    mix_answer = (await poll_to_end(turbotext, mix, "mix_images"))[0]
    swap_answer = (await poll_to_end(turbotext, swap, "deepfake_photo"))[0]
    assert i2i_answer["uploaded_image"] == i2i_answer["data"]["uploaded_image"]
    assert set(mix_answer["data"]) == set() and mix_answer["uploaded_image"]
    assert "uploaded_image" not in swap_answer and swap_answer["data"]["image"][0]


async def test_real_server_and_relative_result_url(media: Any) -> None:
    app = create_turbotext_app(TURBOTEXT_KEY, default_polls=0)
    async with (
        running(app) as base_url,
        httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {TURBOTEXT_KEY}"},
            trust_env=False,
        ) as client,
    ):
        url = media.add("live.png", sample_image())
        queueid = await create_ok(client, url=url, content="x")
        answer, reconnects = await poll_to_end(client, queueid)
        assert reconnects == 0
        absolute = httpx.URL(base_url).join(answer["data"]["uploaded_image"])
        image = await client.get(absolute)
        assert imaging.sniff(image.content) == imaging.PNG


# --- authentication and form validation --------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Token {TURBOTEXT_KEY}"])
async def test_bad_or_missing_key_is_401(turbotext: httpx.AsyncClient, header: str | None) -> None:
    answer = await turbotext.post(
        f"/api_ai/{I2I}",
        data={"do": "create_queue", "url": "http://127.0.0.1/x.png", "content": "x"},
        headers={"Authorization": header or ""},  # "" stands for no header at all
    )
    assert answer.status_code == 401
    body = answer.json()
    assert body["success"] is False and body["error"]
    assert (await stats(turbotext))["auth_failures"] == 1


@pytest.mark.parametrize(
    ("method", "fields", "needle"),
    [
        ("make_magic", {"do": "create_queue"}, "Unknown method"),
        (I2I, {"url": "http://127.0.0.1/a.png", "content": "x"}, "Missing required field do"),
        (I2I, {"do": "cancel"}, "Unknown value of do"),
        (I2I, {"do": "create_queue", "content": "x"}, "Missing required field url"),
        (I2I, {"do": "create_queue", "url": "http://127.0.0.1/a.png"}, "content"),
        (I2I, {"do": "create_queue", "url": "ftp://host/a.png", "content": "x"}, "URL"),
        (I2I, {"do": "create_queue", "url": "http://h/a", "content": "x", "strength": "81"}, ""),
        (I2I, {"do": "create_queue", "url": "http://h/a", "content": "x", "strength": "a"}, ""),
        (I2I, {"do": "create_queue", "url": "http://h/a", "content": "x", "scale": "0"}, ""),
        (I2I, {"do": "create_queue", "url": "http://h/a", "content": "x", "scale": "21"}, ""),
        (I2I, {"do": "create_queue", "url": "http://h/a", "content": "x", "seed": "-1"}, ""),
        (
            I2I,
            {"do": "create_queue", "url": "http://h/a", "content": "x", "original_language": "xx1"},
            "language",
        ),
        (I2I, {"do": "create_queue", "url": "http://h/a", "prompt": "x"}, "Unknown field prompt"),
        ("mix_images", {"do": "create_queue", "url": "http://h/a", "content": "x"}, "target"),
        (
            "deepfake_photo",
            {
                "do": "create_queue",
                "url": "http://h/a",
                "url_image_target": "http://h/b",
                "face_restore": "maybe",
            },
            "face_restore",
        ),
        (I2I, {"do": "get_result"}, "queueid"),
        (I2I, {"do": "get_result", "queueid": "abc"}, "queueid"),
        (I2I, {"do": "create_queue", "url": "http://h/a", "content": "[emulate: what]"}, "direc"),
    ],
)
async def test_bad_forms_are_refused(
    turbotext: httpx.AsyncClient, method: str, fields: dict[str, str], needle: str
) -> None:
    answer = await turbotext.post(f"/api_ai/{method}", data=fields)
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is False
    assert needle in body["error"]
    assert (await stats(turbotext))["queues"] == {}


async def test_unknown_queue(turbotext: httpx.AsyncClient) -> None:
    answer = await poll(turbotext, 424242)
    assert answer["success"] is False
    assert "not found" in answer["error"]


# --- download failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (None, "Failed to download"),  # the media server answers 410
        (b"just some text, not a picture", "Unsupported image format"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "Unsupported image format"),
        (sample_image()[:60], "Cannot read image"),
    ],
)
async def test_download_problems_fail_the_queue(
    turbotext: httpx.AsyncClient, media: Any, payload: bytes | None, needle: str
) -> None:
    name = f"bad-{needle[:6]}-{len(payload or b'')}"
    url = media.add(name, payload) if payload is not None else media.missing(name)
    queueid = await create_ok(turbotext, url=url, content="x")
    answer, _ = await poll_to_end(turbotext, queueid)
    assert answer["success"] is False
    assert needle in answer["error"]
    record = await queue_state(turbotext, queueid)
    assert record["state"] == "failed"
    assert len(record["source_downloads"]) == 1


# --- directives -------------------------------------------------------------------------


@pytest.mark.parametrize("polls", [0, 4])
async def test_polls_directive(turbotext: httpx.AsyncClient, media: Any, polls: int) -> None:
    url = media.add(f"polls-{polls}.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content=f"x [emulate: polls={polls}]")
    answer, reconnects = await poll_to_end(turbotext, queueid)
    assert answer["success"] is True
    assert reconnects == polls


async def test_slow_directive_delays_readiness(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("slow.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content="[emulate: slow=0.3, polls=0]")
    assert await poll(turbotext, queueid) == {"action": "reconnect"}
    record = await settled(turbotext, queueid)
    assert record["ready_at"] - record["created_at"] >= 0.3
    assert (await poll(turbotext, queueid))["success"] is True


async def test_error_directive_fails_the_result(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("error.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content="[emulate: error=500]")
    answer, _ = await poll_to_end(turbotext, queueid)
    assert answer["success"] is False
    assert "500" in answer["error"]


async def test_error_at_create(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("create-error.png", sample_image())
    answer = await create(turbotext, url=url, content="[emulate: error=503, at=create]")
    assert answer.status_code == 503
    assert answer.json()["success"] is False
    data = await stats(turbotext)
    assert data["queues"] == {}
    assert data["submissions"]["total"] == 1
    assert "create-error.png" not in media.hits


async def test_fail_times_at_create(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("create-retry.png", sample_image())
    prompt = "x [emulate: fail-times=1, error=502, at=create, polls=0]"
    assert (await create(turbotext, url=url, content=prompt)).status_code == 502
    queueid = await create_ok(turbotext, url=url, content=prompt)
    answer, _ = await poll_to_end(turbotext, queueid)
    assert answer["success"] is True


async def test_no_image_directive(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("no-image.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content="[emulate: no-image]")
    answer, _ = await poll_to_end(turbotext, queueid)
    assert answer == {"success": True, "data": {}}


async def test_blocked_directive(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("blocked.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content="[emulate: blocked]")
    answer, _ = await poll_to_end(turbotext, queueid)
    assert answer["success"] is False
    assert "content filter" in answer["error"]


async def test_hang_reconnects_forever(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("hang.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content="[emulate: hang, polls=0]")
    assert (await settled(turbotext, queueid))["state"] == "hanging"
    for _ in range(5):
        assert await poll(turbotext, queueid) == {"action": "reconnect"}
    assert (await queue_state(turbotext, queueid))["reconnects"] == 5


async def test_directive_in_downloaded_png(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("chunk.png", sample_image(emulate="error=429"))
    queueid = await create_ok(turbotext, url=url, content="plain prompt")
    answer, _ = await poll_to_end(turbotext, queueid)
    assert answer["success"] is False
    assert "429" in answer["error"]


async def test_fail_times_counts_per_image(turbotext: httpx.AsyncClient, media: Any) -> None:
    photo = sample_image(emulate="fail-times=1,error=500,polls=0")
    outcomes = []
    for attempt in range(2):
        # A new public link for every attempt, as the platform hands out; same bytes.
        url = media.add(f"retry-{attempt}.png", photo)
        queueid = await create_ok(turbotext, url=url, content="x")
        answer, _ = await poll_to_end(turbotext, queueid)
        outcomes.append(answer["success"])
    assert outcomes == [False, True]
    data = await stats(turbotext)
    assert data["submissions"]["by_image_sha256"] == {imaging.sha256_hex(photo): 2}


# --- observability ----------------------------------------------------------------------


async def test_polls_after_the_answer_are_recorded(
    turbotext: httpx.AsyncClient, media: Any
) -> None:
    url = media.add("after.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content="[emulate: polls=0]")
    await poll_to_end(turbotext, queueid)
    moment = time.time()
    await poll(turbotext, queueid)
    record = (await stats(turbotext, since=str(moment)))["queues"][str(queueid)]
    assert record["polls_after_terminal"] == 1
    assert record["polls_since"] == 1
    assert record["last_poll_at"] >= moment
    quiet = (await stats(turbotext, since=str(time.time())))["queues"][str(queueid)]
    assert quiet["polls_since"] == 0


async def test_reset_forgets_queues(turbotext: httpx.AsyncClient, media: Any) -> None:
    url = media.add("reset.png", sample_image())
    queueid = await create_ok(turbotext, url=url, content="[emulate: hang]")
    assert (await turbotext.post("/_emulator/reset")).json() == {"reset": True}
    data = await stats(turbotext)
    assert data["queues"] == {}
    assert data["submissions"]["total"] == 0
    assert (await poll(turbotext, queueid))["success"] is False


async def test_directive_in_downloaded_jpeg_comment(
    turbotext: httpx.AsyncClient, media: Any
) -> None:
    url = media.add("comment.jpg", sample_image("JPEG", emulate="error=429"))
    queueid = await create_ok(turbotext, url=url, content="plain prompt")
    answer, _ = await poll_to_end(turbotext, queueid)
    assert answer["success"] is False
    assert "429" in answer["error"]
