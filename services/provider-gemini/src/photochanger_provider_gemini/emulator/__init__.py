"""A local stand-in for Gemini's `generateContent` that speaks the real wire format and obeys
the emulator directives (`photochanger_emulators.directives`). Declared as the `gemini` entry
point of `photochanger.emulators`; needs the `emulator` extra (photochanger-emulators)."""

import os

from starlette.applications import Starlette

from .app import (
    DEFAULT_MAX_REQUEST_BYTES,
    RENDER_ENV,
    RENDER_MODES,
    GeminiEmulator,
    create_gemini_app,
)


def create_app(api_key: str) -> Starlette:
    """The factory every emulator declares: `create_app(api_key) -> ASGI app`. How answers are
    made comes from `PHOTOCHANGER_EMULATOR_RENDER` (`full`, the default, or `fixed`)."""
    render = os.environ.get(RENDER_ENV, "").strip().lower() or "full"
    if render not in RENDER_MODES:
        raise ValueError(f"{RENDER_ENV} must be one of {', '.join(RENDER_MODES)}, not {render!r}")
    return create_gemini_app(api_key, render=render)


__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "RENDER_ENV",
    "RENDER_MODES",
    "GeminiEmulator",
    "create_app",
    "create_gemini_app",
]
