"""OpenAI GPT Image emulator: `POST /v1/images/edits` (multipart, bearer key) with the real
wire format, steered by the emulator directives."""

from __future__ import annotations

import asyncio
import hmac
import io
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pybase64
from photochanger_emulators import directives as directive_rules
from photochanger_emulators import imaging
from photochanger_emulators.accesslog import AccessLogMiddleware
from photochanger_emulators.answers import IMAGE_MARKER, json_with_image
from photochanger_emulators.control import control_routes
from photochanger_emulators.directives import DirectiveError, Directives, FailureGate
from photochanger_emulators.stats import ImageCallStats
from PIL import Image as PILImage
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import errors
from .form import EditRequest, parse

#: a request body larger than this is refused (16 images of a few MB each fit)
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: recorded when the client went away before an answer (nobody receives it)
CLIENT_CLOSED = 499

_LOOKS = {
    "gpt-image-1.5": imaging.Look(effect="invert", color=(16, 163, 127), label="gpt-image-1.5"),
    "gpt-image-1": imaging.Look(effect="invert", color=(25, 118, 210), label="gpt-image-1"),
    "gpt-image-1-mini": imaging.Look(effect="posterize", color=(120, 120, 120),
                                     label="gpt-image-1-mini"),
}  # fmt: skip
_RATIO = {"1024x1024": "1:1", "1536x1024": "3:2", "1024x1536": "2:3"}
_TOKENS_PER_IMAGE_IN = 323
_TOKENS_OUT = {"low": 272, "medium": 1056, "high": 4160, "auto": 1056}


@dataclass
class OpenAIStats(ImageCallStats):
    provider: ClassVar[str] = "openai"

    #: the last accepted edit: its text fields and its images (order, type, size, sha256)
    last_edit: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "last_edit": self.last_edit}


@dataclass
class OpenAIEmulator:
    """State of one emulator instance (reachable in-process as `app.state.emulator`)."""

    api_key: str
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    stats: OpenAIStats = field(default_factory=OpenAIStats)
    gate: FailureGate = field(default_factory=FailureGate)

    def reset(self) -> None:
        self.stats = OpenAIStats(
            in_flight=self.stats.in_flight, peak_in_flight=self.stats.in_flight
        )
        self.gate.reset()

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            self.stats.auth_failures += 1
            raise errors.missing_key()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            self.stats.auth_failures += 1
            raise errors.wrong_key()


def create_openai_app(
    api_key: str, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
) -> Starlette:
    """Build the GPT Image emulator as a Starlette (ASGI) application; `api_key` is the only
    bearer key it accepts."""
    if not api_key:
        raise ValueError("api_key must not be empty")
    emulator = OpenAIEmulator(api_key=api_key, max_request_bytes=max_request_bytes)
    app = Starlette(
        routes=[
            Route("/v1/images/edits", _edits, methods=["POST"]),
            *control_routes("openai"),
        ],
        middleware=[Middleware(AccessLogMiddleware, name="openai")],
    )
    app.state.emulator = emulator
    return app


def _emulator(request: Request) -> OpenAIEmulator:
    emulator: OpenAIEmulator = request.app.state.emulator
    return emulator


async def _edits(request: Request) -> Response:
    emulator = _emulator(request)
    stats = emulator.stats
    stats.remember(request.method, request.url.path, request.headers)
    try:
        response = await _edit(emulator, request)
    except errors.OpenAIError as exc:
        response = exc.response()
    stats.responses_by_status[response.status_code] += 1
    return response


async def _edit(emulator: OpenAIEmulator, request: Request) -> Response:
    emulator.authenticate(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > emulator.max_request_bytes:
        raise errors.invalid(f"Request body is larger than {emulator.max_request_bytes} bytes.")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise errors.invalid(
            "Invalid Content-Type header, expected multipart/form-data.", code="invalid_request"
        )
    async with request.form(max_files=32, max_fields=64) as form:
        edit = await parse(form)
    first = edit.images[0]
    try:
        wanted = directive_rules.collect(imaging.png_text(first.data, "emulate"), [edit.prompt])
    except DirectiveError as exc:
        raise errors.invalid(f"Emulator directive rejected: {exc}", param="prompt") from None
    image_key = imaging.sha256_hex(first.data)
    stats = emulator.stats
    stats.submissions.total += 1
    stats.submissions.add_image(image_key)
    stats.by_model[edit.model] += 1
    stats.last_edit = {
        "fields": dict(edit.fields),
        "images": [
            {"filename": i.filename, "mime_type": i.mime_type, "bytes": len(i.data),
             "sha256": imaging.sha256_hex(i.data)}
            for i in edit.images
        ],
    }  # fmt: skip
    effective = emulator.gate.apply(wanted, image_key)
    stats.call_started()
    try:
        return await _answer(emulator, request, edit, effective)
    except asyncio.CancelledError:
        stats.client_disconnects += 1
        stats.outcomes["client_gone"] += 1
        raise
    finally:
        stats.call_ended()


async def _answer(
    emulator: OpenAIEmulator, request: Request, edit: EditRequest, directives: Directives
) -> Response:
    outcomes = emulator.stats.outcomes
    waits = directives.hang or directives.slow
    if waits and await _client_left(request, None if directives.hang else directives.slow):
        emulator.stats.client_disconnects += 1
        outcomes["client_gone"] += 1
        return Response(status_code=CLIENT_CLOSED)
    if directives.error is not None:
        outcomes["error"] += 1
        raise errors.emulated(directives.error, edit.model)
    if directives.blocked:
        outcomes["blocked"] += 1
        raise errors.moderation_blocked()
    body = _body(edit)
    if directives.no_image:
        outcomes["no_image"] += 1
        return JSONResponse({**body, "data": []})
    try:
        picture = await asyncio.to_thread(_render, edit)
    except imaging.ImageError:
        raise errors.invalid("Image could not be processed.", param="image") from None
    outcomes["image"] += 1
    return json_with_image(
        {**body, "data": [{"b64_json": IMAGE_MARKER}]}, pybase64.b64encode_as_string(picture)
    )


def _body(edit: EditRequest) -> dict[str, Any]:
    quality = "medium" if edit.quality == "auto" else edit.quality
    text_tokens = len(edit.prompt) // 4 + 1
    image_tokens = _TOKENS_PER_IMAGE_IN * len(edit.images)
    output_tokens = _TOKENS_OUT[edit.quality]
    return {
        "created": int(time.time()),
        "background": "opaque" if edit.background == "auto" else edit.background,
        "output_format": edit.output_format,
        "quality": quality,
        "size": "1024x1024" if edit.size == "auto" else edit.size,
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": output_tokens,
            "total_tokens": text_tokens + image_tokens + output_tokens,
        },
    }


def _render(edit: EditRequest) -> bytes:
    """The first image visibly "edited", a thumbnail of the second in its corner, in the size's
    aspect ratio and the asked output format."""
    images = edit.images
    png = imaging.render(
        images[0].data,
        _LOOKS[edit.model],
        secondary=images[1].data if len(images) > 1 else None,
        aspect_ratio=_RATIO.get(edit.size),
        max_side=1536 if edit.size == "1536x1024" or edit.size == "1024x1536" else 1024,
    )
    if edit.output_format == "png":
        return png
    with PILImage.open(io.BytesIO(png)) as picture:
        out = io.BytesIO()
        picture.convert("RGB").save(out, format=edit.output_format.upper())
        return out.getvalue()


async def _client_left(request: Request, seconds: float | None) -> bool:
    """Wait `seconds` (forever if None); True if the client disconnected first."""
    disconnected = asyncio.ensure_future(_disconnect(request))
    try:
        done, _ = await asyncio.wait({disconnected}, timeout=seconds)
        return disconnected in done
    finally:
        disconnected.cancel()


async def _disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
