from __future__ import annotations

import io

import pytest
from photochanger_emulators import imaging
from photochanger_emulators.imaging import Look
from photochanger_emulators.testing import sample_image as make_image
from PIL import Image

LOOK = Look(effect="invert", color=(255, 0, 0), label="test")


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", imaging.PNG), ("JPEG", imaging.JPEG), ("WEBP", imaging.WEBP)]
)
def test_sniff_recognises_the_real_type(fmt: str, mime: str) -> None:
    assert imaging.sniff(make_image(fmt)) == mime


def test_sniff_recognises_heic_by_brand() -> None:
    assert imaging.sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == imaging.HEIC
    assert imaging.sniff(b"GIF89a....") is None


def test_png_text_chunk_is_read() -> None:
    assert imaging.png_text(make_image(emulate="slow=3"), "emulate") == "slow=3"
    assert imaging.png_text(make_image(), "emulate") is None
    assert imaging.png_text(make_image("JPEG"), "emulate") is None


def test_damaged_bytes_are_not_an_image() -> None:
    with pytest.raises(imaging.ImageError):
        imaging.check_decodable(b"definitely not an image")
    with pytest.raises(imaging.ImageError):
        imaging.check_decodable(make_image()[:40])


def test_render_is_a_visibly_different_png() -> None:
    source = make_image(size=(120, 80))
    out = imaging.render(source, LOOK)
    assert imaging.sniff(out) == imaging.PNG
    before = Image.open(io.BytesIO(source)).convert("RGB")
    after = Image.open(io.BytesIO(out)).convert("RGB")
    assert after.size == before.size
    center = (60, 60)
    assert after.getpixel(center) != before.getpixel(center)
    assert after.getpixel((0, 0)) == LOOK.color


def test_render_honours_aspect_ratio_and_never_enlarges() -> None:
    out = imaging.render(make_image(size=(200, 100)), LOOK, aspect_ratio="1:1")
    assert Image.open(io.BytesIO(out)).size == (100, 100)
    out = imaging.render(make_image(size=(3000, 1000)), LOOK, max_side=1024)
    assert max(Image.open(io.BytesIO(out)).size) == 1024


def test_render_without_an_input_makes_a_placeholder() -> None:
    out = imaging.render(None, LOOK, secondary=make_image())
    assert Image.open(io.BytesIO(out)).size == (512, 512)
