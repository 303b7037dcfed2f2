"""The benchmark's base photo: a realistic camera-sized JPEG by default.

Presets are generated with Pillow (``photochanger_emulators.synthetic``: gradients, blurred
shapes, texture and grain from a fixed seed), encoded at the JPEG quality that lands nearest
the wanted size, and cached under ``.state/bench/`` (git-ignored): the first run takes a few
seconds, later runs read the file. ``--photo PATH`` uses any file instead.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photochanger_emulators import synthetic

from bench.payloads import base_png, kind_of

CACHE_DIR = Path(__file__).resolve().parent.parent / ".state" / "bench"


@dataclass(frozen=True)
class Preset:
    width: int
    height: int
    target_bytes: int
    grain: int
    seed: int = 1


PRESETS: dict[str, Preset | None] = {
    # a 6-megapixel photobooth shot, ~630 kB: what the targets are stated for
    "default": Preset(3000, 2000, target_bytes=628_000, grain=6),
    # a 24-megapixel DSLR shot of several megabytes
    "large": Preset(6000, 4000, target_bytes=4_500_000, grain=8),
    # the old 64x64 PNG of 7 kB (hides the cost of real photos; for comparison only)
    "tiny": None,
}


def _generate(preset: Preset) -> tuple[bytes, int]:
    picture = synthetic.photographic(
        preset.width, preset.height, seed=preset.seed, grain=preset.grain
    )
    return synthetic.jpeg_near(picture, preset.target_bytes)


def preset_photo(name: str, cache_dir: Path = CACHE_DIR) -> tuple[bytes, dict[str, Any]]:
    """The preset's photo (generated once, then read from the cache) and its description."""
    preset = PRESETS[name]
    if preset is None:
        data = base_png(64)
        return data, describe(data, source="preset tiny: 64x64 PNG")
    stem = (
        f"photo-{preset.width}x{preset.height}-{preset.target_bytes}-g{preset.grain}"
        f"-s{preset.seed}-v{synthetic.GENERATOR_VERSION}"
    )
    path = cache_dir / f"{stem}.jpg"
    if not path.is_file():
        data, quality = _generate(preset)
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
        (cache_dir / f"{stem}.quality").write_text(f"{quality}\n")
    data = path.read_bytes()
    quality_file = cache_dir / f"{stem}.quality"
    quality_text = quality_file.read_text().strip() if quality_file.is_file() else "?"
    return data, describe(
        data,
        source=f"preset {name}: synthetic photo, seed {preset.seed}, JPEG quality "
        f"{quality_text}, cached in {path}",
    )


def file_photo(path: Path) -> tuple[bytes, dict[str, Any]]:
    data = path.read_bytes()
    return data, describe(data, source=f"file {path}")


def describe(data: bytes, *, source: str) -> dict[str, Any]:
    """Size, type, pixel size and sha256 of a base photo (recorded in the results)."""
    info: dict[str, Any] = {
        "source": source,
        "bytes": len(data),
        "kind": kind_of(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            info["pixels"] = f"{image.width}x{image.height}"
            info["format"] = image.format
    except Exception as exc:  # any file is allowed; say what Pillow thought of it
        info["pixels"] = f"unknown ({type(exc).__name__})"
    return info
