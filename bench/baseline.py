"""The provider's own share of a job: a generateContent call like the one the Gemini provider
service makes (the slot's model and prompt, the photo inline), sent straight to the emulator
over the public wire format.

The emulator does not time its requests (`/_emulator/stats` has counters only), so the
baseline is measured from outside: `samples` sequential calls on an otherwise idle stack,
each with a distinct photo made the same way as the load's photos. Each call is timed from
sending the request to having the result's bytes decoded."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from bench.payloads import PhotoFactory
from bench.stats import Summary, summarize

DEFAULT_MODEL = "gemini-2.5-flash-image"
DEFAULT_PROMPT = "Turn this photo into a warm, softly lit studio portrait."


def request_body(prompt: str, photo: bytes, mime_type: str, aspect_ratio: str | None) -> bytes:
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    if aspect_ratio:
        config["imageConfig"] = {"aspectRatio": aspect_ratio}
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": prompt},
                    {
                        "inlineData": {
                            "mimeType": mime_type,
                            "data": base64.b64encode(photo).decode(),
                        }
                    },
                ],
            }
        ],
        "generationConfig": config,
    }
    return json.dumps(body).encode()


def _result_bytes(answer: dict[str, Any]) -> bytes:
    for candidate in answer.get("candidates", []):
        for part in candidate.get("content", {}).get("parts", []):
            blob = part.get("inlineData") or part.get("inline_data")
            if blob:
                return base64.b64decode(blob["data"])
    raise RuntimeError("the emulator answered without an image")


async def emulator_baseline(
    emulator_url: str,
    api_key: str,
    slot_settings: dict[str, Any],
    photos: PhotoFactory,
    *,
    samples: int = 50,
    warmup: int = 5,
) -> tuple[Summary, dict[str, Any]]:
    """Milliseconds per direct call (the first `warmup` calls are not counted), and what
    was sent."""
    model = str(slot_settings.get("model") or DEFAULT_MODEL)
    prompt = str(slot_settings.get("prompt") or DEFAULT_PROMPT)
    image_config = slot_settings.get("image_config")
    aspect = image_config.get("aspect_ratio") if isinstance(image_config, dict) else None
    url = f"{emulator_url}/v1beta/models/{model}:generateContent"
    headers = {"x-goog-api-key": api_key, "content-type": "application/json"}
    timings: list[float] = []
    result_bytes = 0
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
        for number in range(warmup + samples):
            photo = photos.make()
            body = request_body(
                prompt, photo.data, photo.mime_type, aspect if isinstance(aspect, str) else None
            )
            started = time.monotonic()
            answer = await http.post(url, content=body, headers=headers)
            answer.raise_for_status()
            result_bytes = len(_result_bytes(answer.json()))
            elapsed = (time.monotonic() - started) * 1000
            if number >= warmup:
                timings.append(elapsed)
    return summarize(timings), {
        "model": model,
        "request_bytes": len(body),
        "result_bytes": result_bytes,
    }
