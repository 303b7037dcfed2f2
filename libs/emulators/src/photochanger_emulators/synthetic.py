"""Deterministic photograph-like pictures: gradients, soft shapes, texture and grain.

Used for the Gemini emulator's pre-rendered answer (``--render=fixed``) and by the benchmark
for its realistic, multi-hundred-kilobyte JPEG photos. Only Pillow and :mod:`random` with a
fixed seed are used, so a given seed, size and Pillow build always give the same pixels.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

#: Bump when the picture changes, so cached files made by an older version are not reused.
GENERATOR_VERSION = 1


def photographic(width: int, height: int, *, seed: int = 0, grain: int = 6) -> Image.Image:
    """An RGB picture that compresses like a photo: a sky-to-ground gradient, a light
    source, blurred shapes at several depths, cloudy low-frequency texture and fine grain
    of amplitude ``grain`` (0 = none)."""
    if width < 8 or height < 8:
        raise ValueError("the picture must be at least 8x8 pixels")
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    sky = (rng.randint(70, 130), rng.randint(120, 170), rng.randint(190, 240))
    ground = (rng.randint(50, 100), rng.randint(60, 100), rng.randint(20, 50))
    image = ImageOps.colorize(gradient, black=sky, white=ground, mid=(200, 190, 170))

    # a warm light source: a radial gradient, lightening the picture around one point
    side = max(width, height)
    light = Image.radial_gradient("L").resize((2 * side, 2 * side), Image.Resampling.BILINEAR)
    cx, cy = rng.randint(width // 5, width * 4 // 5), rng.randint(height // 8, height // 2)
    light = light.crop((side - cx, side - cy, side - cx + width, side - cy + height))
    glow = Image.new("RGB", (width, height), (255, 230, 190))
    image = Image.composite(image, glow, light.point(lambda v: min(255, 110 + v)))

    # shapes in three depth layers, the farther ones more blurred
    scale = side / 1000
    for depth, (count, blur) in enumerate(((25, 6.0), (18, 2.5), (10, 0.8))):
        layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        for _ in range(count):
            x, y = rng.randint(-width // 10, width), rng.randint(height // 4, height)
            w = int(rng.uniform(40, 260) * scale * (1 + depth * 0.4))
            h = int(rng.uniform(40, 320) * scale * (1 + depth * 0.4))
            color = (rng.randint(20, 235), rng.randint(20, 235), rng.randint(20, 235), 230)
            kind = rng.random()
            if kind < 0.45:
                draw.ellipse((x, y, x + w, y + h), fill=color)
            elif kind < 0.8:
                draw.rectangle((x, y, x + w, y + h), fill=color)
            else:
                points = [
                    (x + rng.randint(0, w), y + rng.randint(0, h)) for _ in range(rng.randint(3, 6))
                ]
                draw.polygon(points, fill=color)
        layer = layer.filter(ImageFilter.GaussianBlur(blur * scale))
        image.paste(layer, (0, 0), layer)

    # cloudy texture: two octaves of coarse random values, upscaled and smoothed
    clouds = Image.new("L", (width, height), 128)
    for cell, weight in ((64, 0.6), (12, 0.25)):
        coarse = (max(2, width // cell), max(2, height // cell))
        octave = Image.frombytes("L", coarse, rng.randbytes(coarse[0] * coarse[1]))
        octave = octave.resize((width, height), Image.Resampling.BICUBIC)
        octave = octave.filter(ImageFilter.GaussianBlur(cell / 3))
        clouds = Image.blend(clouds, octave, weight)
    clouds = ImageOps.autocontrast(clouds)
    image = Image.blend(image, ImageOps.colorize(clouds, (40, 40, 50), (230, 220, 200)), 0.2)

    if grain > 0:
        noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
        # map 0..255 to -grain..+grain around 128 and add it to every channel
        noise = noise.point(lambda v: 128 - grain + (v * (2 * grain + 1)) // 256)
        image = ImageChops.add(image, Image.merge("RGB", (noise, noise, noise)), 1.0, -128)
    return image


def jpeg(image: Image.Image, quality: int) -> bytes:
    """``image`` as a baseline JPEG (4:2:0, optimized Huffman tables, no metadata)."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True, subsampling=2)
    return out.getvalue()


def jpeg_near(image: Image.Image, target_bytes: int) -> tuple[bytes, int]:
    """The JPEG encoding of ``image`` whose size is closest to ``target_bytes`` (quality
    30..95, binary search); returns the bytes and the quality used."""
    low, high = 30, 95
    best: tuple[bytes, int] | None = None
    while low <= high:
        quality = (low + high) // 2
        data = jpeg(image, quality)
        if best is None or abs(len(data) - target_bytes) < abs(len(best[0]) - target_bytes):
            best = (data, quality)
        if len(data) < target_bytes:
            low = quality + 1
        else:
            high = quality - 1
    assert best is not None
    return best
