"""Gemini emulator: ``POST /v1beta/models/{model}:generateContent`` with the real wire format."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pybase64
from photochanger_emulators import directives as directive_rules
from photochanger_emulators import imaging, synthetic
from photochanger_emulators.accesslog import AccessLogMiddleware
from photochanger_emulators.answers import IMAGE_MARKER, json_with_image
from photochanger_emulators.control import control_routes
from photochanger_emulators.directives import DirectiveError, Directives, FailureGate
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import errors
from . import request as gemini_request
from .models import IMAGE_SIZES, MODELS, ModelSpec
from .stats import GeminiStats

#: Default cap on a request body, as the public API documents for inline data.
DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024
#: Status recorded when the client went away before an answer (nobody receives it).
CLIENT_CLOSED = 499

_IMAGE_TOKENS = 1290
_TOKENS_PER_INPUT_IMAGE = 258

RenderMode = Literal["full", "fixed"]
#: ``full``: every answer is rendered from the request's image (tens of ms of CPU for a
#: camera photo). ``fixed``: every answer is one pre-rendered picture per model, aspect ratio
#: and size (a photo-like 1024-px PNG, made once), the input image is never decoded: an
#: instant provider for load tests. Selected by ``--render`` or this environment variable.
RENDER_MODES: tuple[RenderMode, ...] = ("full", "fixed")
RENDER_ENV = "PHOTOCHANGER_EMULATOR_RENDER"
#: Seed of the fixed answer's picture (any value; fixed so every run answers the same bytes).
FIXED_SEED = 7


@dataclass
class GeminiEmulator:
    """State of one emulator instance (reachable in-process as ``app.state.emulator``)."""

    api_key: str
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    models: Mapping[str, ModelSpec] = field(default_factory=lambda: MODELS)
    stats: GeminiStats = field(default_factory=GeminiStats)
    gate: FailureGate = field(default_factory=FailureGate)
    render: RenderMode = "full"
    #: fixed mode: base64 PNG answers by (model, aspect ratio, longest side)
    fixed_results: dict[tuple[str, str | None, int], str] = field(default_factory=dict)

    def fixed_result(self, spec: ModelSpec, aspect_ratio: str | None, max_side: int) -> str:
        """The pre-rendered answer for this model, aspect ratio and size, as base64 PNG
        (rendered on first use, then reused; start-up renders the default ones)."""
        key = (spec.name, aspect_ratio, max_side)
        cached = self.fixed_results.get(key)
        if cached is None:
            cached = pybase64.b64encode_as_string(_fixed_png(spec, aspect_ratio, max_side))
            self.fixed_results[key] = cached
        return cached

    def reset(self) -> None:
        in_flight = self.stats.in_flight
        self.stats = GeminiStats(in_flight=in_flight, peak_in_flight=in_flight)
        self.gate.reset()

    def authenticate(self, request: Request) -> None:
        supplied = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not supplied:
            self.stats.auth_failures += 1
            raise errors.missing_api_key()
        if not hmac.compare_digest(supplied.encode(), self.api_key.encode()):
            self.stats.auth_failures += 1
            raise errors.invalid_api_key()

    def remember(self, request: Request) -> None:
        self.stats.remember(request.method, request.url.path, request.headers)


def create_gemini_app(
    api_key: str,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    render: RenderMode = "full",
) -> Starlette:
    """Build the Gemini emulator as a Starlette (ASGI) application.

    ``api_key`` is the only key accepted in ``x-goog-api-key`` (or ``?key=``);
    ``max_request_bytes`` caps a request body (400 INVALID_ARGUMENT above it); ``render``
    chooses how answers are made (see :data:`RENDER_MODES`; ``fixed`` renders its pictures
    here, before the app is returned).
    """
    if not api_key:
        raise ValueError("api_key must not be empty")
    if render not in RENDER_MODES:
        raise ValueError(f"render must be one of {', '.join(RENDER_MODES)}, not {render!r}")
    emulator = GeminiEmulator(api_key=api_key, max_request_bytes=max_request_bytes, render=render)
    if render == "fixed":
        for spec in emulator.models.values():
            emulator.fixed_result(spec, None, IMAGE_SIZES["1K"])
    app = Starlette(
        routes=[
            Route("/v1beta/models", _list_models, methods=["GET"]),
            Route("/v1beta/models/{target}", _get_model, methods=["GET"]),
            Route("/v1beta/models/{target}", _model_method, methods=["POST"]),
            *control_routes("gemini", health=lambda emulator: {"render": emulator.render}),
        ],
        middleware=[Middleware(AccessLogMiddleware, name="gemini")],
    )
    app.state.emulator = emulator
    return app


def _emulator(request: Request) -> GeminiEmulator:
    emulator: GeminiEmulator = request.app.state.emulator
    return emulator


async def _list_models(request: Request) -> Response:
    emulator = _emulator(request)
    emulator.remember(request)
    try:
        emulator.authenticate(request)
    except errors.GeminiError as exc:
        return exc.response()
    return JSONResponse({"models": [spec.as_json() for spec in emulator.models.values()]})


async def _get_model(request: Request) -> Response:
    emulator = _emulator(request)
    emulator.remember(request)
    target = request.path_params["target"]
    try:
        emulator.authenticate(request)
        spec = emulator.models.get(target)
        if spec is None:
            raise errors.GeminiError(404, f"models/{target} is not found for API version v1beta.")
    except errors.GeminiError as exc:
        return exc.response()
    return JSONResponse(spec.as_json())


async def _model_method(request: Request) -> Response:
    emulator = _emulator(request)
    emulator.remember(request)
    try:
        response = await _generate(emulator, request)
    except errors.GeminiError as exc:
        response = exc.response()
    emulator.stats.responses_by_status[response.status_code] += 1
    return response


async def _generate(emulator: GeminiEmulator, request: Request) -> Response:
    emulator.authenticate(request)
    model_name, _, method = str(request.path_params["target"]).partition(":")
    spec = emulator.models.get(model_name)
    if method != "generateContent":
        raise errors.GeminiError(404, f"Method {method or '(none)'} is not found.")
    if spec is None:
        raise errors.model_not_found(model_name)
    body = await _read_body(request, emulator.max_request_bytes)
    parsed = await asyncio.to_thread(gemini_request.parse, body, spec)
    first = parsed.images[0] if parsed.images else None
    try:
        wanted = directive_rules.collect(
            imaging.image_text(first.data, "emulate") if first else None, parsed.texts
        )
    except DirectiveError as exc:
        raise errors.invalid_argument(f"Emulator directive rejected: {exc}") from None
    image_key = imaging.sha256_hex(first.data) if first else ""
    emulator.stats.submissions.total += 1
    emulator.stats.by_model[spec.name] += 1
    if first:
        emulator.stats.submissions.add_image(image_key)
    effective = emulator.gate.apply(wanted, image_key)
    emulator.stats.call_started()
    try:
        return await _answer(emulator, request, spec, parsed, effective)
    except asyncio.CancelledError:
        emulator.stats.client_disconnects += 1
        emulator.stats.outcomes["client_gone"] += 1
        raise
    finally:
        emulator.stats.call_ended()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = errors.invalid_argument(f"Request payload size exceeds the limit: {limit} bytes.")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _answer(
    emulator: GeminiEmulator,
    request: Request,
    spec: ModelSpec,
    parsed: gemini_request.GenerateRequest,
    directives: Directives,
) -> Response:
    outcomes = emulator.stats.outcomes
    if directives.hang or directives.slow:
        gone = await _wait(request, None if directives.hang else directives.slow)
        if gone:
            emulator.stats.client_disconnects += 1
            outcomes["client_gone"] += 1
            return Response(status_code=CLIENT_CLOSED)
    if directives.error is not None:
        outcomes["error"] += 1
        raise errors.emulated(directives.error, spec.name)
    if directives.blocked:
        outcomes["blocked"] += 1
        return JSONResponse(_blocked_body(spec, parsed))
    if directives.no_image:
        outcomes["no_image"] += 1
        return JSONResponse(_no_image_body(spec, parsed))
    parts: list[dict[str, Any]] = []
    encoded: str | None = None
    if "TEXT" in parsed.response_modalities:
        parts.append({"text": "Here is the edited image (emulated)."})
    if "IMAGE" in parsed.response_modalities:
        if emulator.render == "fixed":
            max_side = IMAGE_SIZES.get(parsed.image_size or "1K", 1024)
            encoded = emulator.fixed_result(spec, parsed.aspect_ratio, max_side)
        else:
            try:
                png = await asyncio.to_thread(_render, spec, parsed)
            except imaging.ImageError:
                raise errors.invalid_argument("Provided image is not valid.") from None
            encoded = pybase64.b64encode_as_string(png)
        parts.append({"inlineData": {"mimeType": imaging.PNG, "data": IMAGE_MARKER}})
        outcomes["image"] += 1
    else:
        outcomes["text_only"] += 1
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _usage(parsed, image_out="IMAGE" in parsed.response_modalities),
        "modelVersion": spec.name,
        "responseId": secrets.token_urlsafe(16),
    }
    return JSONResponse(body) if encoded is None else json_with_image(body, encoded)


def _render(spec: ModelSpec, parsed: gemini_request.GenerateRequest) -> bytes:
    images = parsed.images
    return imaging.render(
        images[0].data if images else None,
        spec.look,
        secondary=images[1].data if len(images) > 1 else None,
        aspect_ratio=parsed.aspect_ratio,
        max_side=IMAGE_SIZES.get(parsed.image_size or "1K", 1024),
    )


def _fixed_png(spec: ModelSpec, aspect_ratio: str | None, max_side: int) -> bytes:
    """A photo-like 3:2 picture of ``max_side`` px, processed the way every answer is."""
    source = synthetic.photographic(max_side, max(8, max_side * 2 // 3), seed=FIXED_SEED)
    return imaging.render_image(source, spec.look, aspect_ratio=aspect_ratio)


async def _wait(request: Request, seconds: float | None) -> bool:
    """Wait ``seconds`` (forever if ``None``); return True if the client disconnected first."""
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


def _usage(parsed: gemini_request.GenerateRequest, *, image_out: bool) -> dict[str, Any]:
    text_tokens = sum(len(text) // 4 + 1 for text in parsed.texts)
    image_tokens = _TOKENS_PER_INPUT_IMAGE * len(parsed.images)
    prompt_details = [{"modality": "TEXT", "tokenCount": text_tokens}]
    if image_tokens:
        prompt_details.append({"modality": "IMAGE", "tokenCount": image_tokens})
    usage: dict[str, Any] = {
        "promptTokenCount": text_tokens + image_tokens,
        "totalTokenCount": text_tokens + image_tokens,
        "promptTokensDetails": prompt_details,
    }
    if image_out:
        usage["candidatesTokenCount"] = _IMAGE_TOKENS
        usage["totalTokenCount"] += _IMAGE_TOKENS
        usage["candidatesTokensDetails"] = [{"modality": "IMAGE", "tokenCount": _IMAGE_TOKENS}]
    return usage


def _no_image_body(spec: ModelSpec, parsed: gemini_request.GenerateRequest) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "I was unable to generate an image this time (emulated)."}],
                },
                "finishReason": "NO_IMAGE",
                "index": 0,
            }
        ],
        "usageMetadata": _usage(parsed, image_out=False),
        "modelVersion": spec.name,
        "responseId": secrets.token_urlsafe(16),
    }


def _blocked_body(spec: ModelSpec, parsed: gemini_request.GenerateRequest) -> dict[str, Any]:
    return {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
                {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
                {
                    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "HIGH",
                    "blocked": True,
                },
            ],
        },
        "usageMetadata": _usage(parsed, image_out=False),
        "modelVersion": spec.name,
        "responseId": secrets.token_urlsafe(16),
    }
