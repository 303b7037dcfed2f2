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


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """``jpeg`` with a COM segment holding ``text`` spliced in right after SOI."""
    segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return jpeg[:2] + segment + jpeg[2:]


def test_jpeg_comment_text_is_read() -> None:
    assert imaging.image_text(make_image("JPEG", emulate="slow=3"), "emulate") == "slow=3"
    assert imaging.jpeg_comment_text(make_image("JPEG", emulate="slow=3"), "emulate") == "slow=3"
    assert imaging.image_text(make_image("JPEG"), "emulate") is None


def test_jpeg_comment_text_skips_other_segments_and_comments() -> None:
    photo = make_image("JPEG")
    spliced = _with_comment(_with_comment(photo, b"Emulate:  error=429 "), b"bench-id: abc")
    assert imaging.image_text(spliced, "emulate") == "error=429"  # keyword case-insensitive
    assert imaging.image_text(spliced, "bench-id") == "abc"
    assert imaging.image_text(spliced, "other") is None
    # the spliced file is still a valid JPEG
    assert imaging.check_decodable(spliced) == imaging.JPEG
    assert Image.open(io.BytesIO(spliced)).size == (96, 64)


def test_jpeg_comment_after_the_scan_starts_is_not_read() -> None:
    photo = make_image("JPEG")
    sos = photo.index(b"\xff\xda")
    late = photo[: sos + 2] + b"\xff\xfe\x00\x0cemulate: x" + photo[sos + 2 :]
    assert imaging.jpeg_comment_text(late, "emulate") is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"\xff\xd8\xff\xfe\x00",
        b"\xff\xd8\x00\x00\x00\x00",
        b"\xff\xd8\xff\xfe\x00\x00",
    ],
)
def test_jpeg_comment_text_tolerates_damaged_headers(data: bytes) -> None:
    assert imaging.jpeg_comment_text(data, "emulate") is None


def test_image_text_reads_png_chunks_too() -> None:
    assert imaging.image_text(make_image(emulate="error=503"), "emulate") == "error=503"


def test_render_image_of_a_loaded_picture() -> None:
    picture = Image.new("RGB", (300, 200), (10, 20, 30))
    out = Image.open(io.BytesIO(imaging.render_image(picture, LOOK, aspect_ratio="1:1")))
    assert out.size == (200, 200)
    assert out.getpixel((0, 0)) == LOOK.color
