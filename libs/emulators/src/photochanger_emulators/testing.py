"""Helpers for tests that drive the emulators: sample images carrying directives, waiting."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo


def sample_image(
    fmt: str = "PNG",
    *,
    size: tuple[int, int] = (96, 64),
    emulate: str | None = None,
    color: tuple[int, int, int] = (30, 120, 220),
) -> bytes:
    """A small picture with some structure, as ``fmt`` (PNG, JPEG, WEBP).

    With ``emulate`` the picture carries that directive list: a JPEG (``fmt="JPEG"``) in a
    comment segment ``emulate: LIST``, anything else as a PNG with a ``tEXt`` chunk of keyword
    ``emulate`` (e.g. ``sample_image(emulate="error=429")``).
    """
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle([(width // 4, height // 4), (width // 2, height // 2)], fill=(250, 250, 0))
    out = io.BytesIO()
    if emulate is not None and fmt.upper() in ("JPEG", "JPG"):
        image.save(out, format="JPEG", comment=f"emulate: {emulate}".encode())
    elif emulate is not None:
        info = PngInfo()
        info.add_text("emulate", emulate)
        image.save(out, format="PNG", pnginfo=info)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 5.0, interval: float = 0.02
) -> None:
    """Re-evaluate ``check`` until it holds; raise :class:`TimeoutError` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
