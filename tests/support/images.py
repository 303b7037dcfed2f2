"""Test photos made on the fly (never committed binaries)."""

from __future__ import annotations

import io

from PIL import Image
from PIL.PngImagePlugin import PngInfo


def jpeg_photo(seed: int = 0, size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, 120))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def png_photo(seed: int = 0, *, emulate: str | None = None) -> bytes:
    """A PNG; `emulate` adds the `tEXt` chunk the provider emulators read directives from."""
    image = Image.new("RGB", (40, 40), ((seed * 53) % 256, 200, (seed * 17) % 256))
    info = PngInfo()
    if emulate:
        info.add_text("emulate", emulate)
    info.add_text("seed", str(seed))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()
