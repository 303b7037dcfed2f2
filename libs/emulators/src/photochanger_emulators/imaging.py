"""Image helpers: sniffing, text in PNG chunks and JPEG comments, and the visible
"processing" the emulators do."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
HEIC = "image/heic"
HEIF = "image/heif"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"heif"})
_MAX_TEXT_CHUNK = 64 * 1024
#: the most pixels an input may declare (a 50-megapixel camera); the header is read first, so
#: a small file declaring 13000 x 13000 is refused before a pixel is decoded (Pillow's own
#: guard only warns below 179 MP and decoding that costs ~0.5 GB)
MAX_PIXELS = 50_000_000

#: Aspect ratios (width:height) as the providers spell them.
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1, 1),
    "2:3": (2, 3),
    "3:2": (3, 2),
    "3:4": (3, 4),
    "4:3": (4, 3),
    "4:5": (4, 5),
    "5:4": (5, 4),
    "9:16": (9, 16),
    "16:9": (16, 9),
    "21:9": (21, 9),
}


class ImageError(ValueError):
    """Bytes that cannot be used as an image."""


@dataclass(frozen=True)
class Look:
    """How an emulator marks its output so a person can tell it was "processed"."""

    effect: str  # "invert", "posterize" or "mirror"
    color: tuple[int, int, int]
    label: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are (by magic number), or ``None``."""
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _HEIC_BRANDS:
            return HEIC
        if brand in _HEIF_BRANDS:
            return HEIF
    return None


def png_text(data: bytes, keyword: str) -> str | None:
    """Value of the first ``tEXt``/``zTXt``/``iTXt`` chunk named ``keyword`` in a PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    wanted = keyword.encode("latin-1")
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IEND" or len(body) < length:
            return None
        if kind in (b"tEXt", b"zTXt", b"iTXt") and length <= _MAX_TEXT_CHUNK:
            name, _, rest = body.partition(b"\x00")
            if name == wanted:
                return _decode_text_chunk(kind, rest)
    return None


#: JPEG markers without a length field: TEM, RST0..RST7, SOI, EOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8, 0xD9})
_JPEG_COM = 0xFE
_JPEG_SOS = 0xDA


def jpeg_comment_text(data: bytes, keyword: str) -> str | None:
    """Value of the first JPEG comment (COM segment) written as ``keyword: value``.

    Only the header segments are read (up to the start of the scan): no pixel is decoded.
    The keyword is matched without regard to case; the value is stripped of blanks.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    wanted = keyword.lower() + ":"
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None  # not a marker: damaged header
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _JPEG_STANDALONE:
            if marker == 0xD9:
                return None
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker == _JPEG_SOS or length < 2:
            return None
        body = data[offset + 4 : offset + 2 + length]
        offset += 2 + length
        if marker != _JPEG_COM:
            continue
        text = _decode_comment(body)
        if text[: len(wanted)].lower() == wanted:
            return text[len(wanted) :].strip()
    return None


def _decode_comment(body: bytes) -> str:
    body = body.rstrip(b"\x00")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def image_text(data: bytes, keyword: str) -> str | None:
    """The text stored under ``keyword`` in an image: a PNG ``tEXt``/``zTXt``/``iTXt`` chunk
    (:func:`png_text`) or a JPEG comment ``keyword: value`` (:func:`jpeg_comment_text`)."""
    if data.startswith(_PNG_SIGNATURE):
        return png_text(data, keyword)
    return jpeg_comment_text(data, keyword)


def _decode_text_chunk(kind: bytes, rest: bytes) -> str | None:
    try:
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":
            return _inflate(rest[1:]).decode("latin-1")
        # iTXt: compression flag, method, language tag\0, translated keyword\0, text
        compressed = rest[:1] == b"\x01"
        _, _, tail = rest[2:].partition(b"\x00")
        _, _, text = tail.partition(b"\x00")
        return (_inflate(text) if compressed else text).decode("utf-8")
    except (zlib.error, UnicodeDecodeError):
        return None


def _inflate(data: bytes) -> bytes:
    return zlib.decompressobj().decompress(data, _MAX_TEXT_CHUNK)


def check_decodable(data: bytes) -> str:
    """Raise :class:`ImageError` unless the bytes are an image; return its sniffed type.

    HEIC/HEIF are accepted on their signature alone (Pillow cannot decode them here).
    """
    kind = sniff(data)
    if kind is None:
        raise ImageError("not a JPEG, PNG, WebP, HEIC or HEIF image")
    if kind in (HEIC, HEIF):
        return kind
    try:
        with _open(data) as image:
            image.verify()
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image data is damaged ({type(exc).__name__})") from None
    except Image.DecompressionBombError:
        raise ImageError("image is too large to decode") from None
    return kind


def render(
    primary: bytes | None,
    look: Look,
    *,
    secondary: bytes | None = None,
    aspect_ratio: str | None = None,
    max_side: int = 1024,
) -> bytes:
    """Produce the emulator's "result": a visibly altered copy of ``primary`` as PNG.

    The picture is shrunk to ``max_side`` (never enlarged), center-cropped to
    ``aspect_ratio`` when given, given the look's effect and a colored frame, and a thumbnail
    of ``secondary`` (e.g. a template image) is placed in the lower right corner.
    """
    base = _load(primary, max_side) if primary is not None else _placeholder(look)
    if aspect_ratio is not None:
        base = _crop_to_ratio(base, ASPECT_RATIOS[aspect_ratio])
    base = _apply_effect(base, look.effect)
    if secondary is not None:
        _paste_thumbnail(base, _load(secondary, max(base.size) // 4 or 1), look.color)
    _frame(base, look)
    return _png(base)


def render_image(base: Image.Image, look: Look, *, aspect_ratio: str | None = None) -> bytes:
    """:func:`render` for a picture already loaded and sized (no input bytes to decode)."""
    if aspect_ratio is not None:
        base = _crop_to_ratio(base, ASPECT_RATIOS[aspect_ratio])
    base = _apply_effect(base, look.effect)
    _frame(base, look)
    return _png(base)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _load(data: bytes, max_side: int) -> Image.Image:
    if sniff(data) in (HEIC, HEIF):
        return Image.new("RGB", (min(max_side, 512), min(max_side, 512)), (128, 128, 128))
    try:
        opened = _open(data)
        opened.draft("RGB", (max_side, max_side))
        image = ImageOps.exif_transpose(opened)
        image.thumbnail((max_side, max_side))
        return image.convert("RGB")
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image data is damaged ({type(exc).__name__})") from None
    except Image.DecompressionBombError:
        raise ImageError("image is too large to decode") from None


def _open(data: bytes) -> Image.Image:
    """The image's header only; `ImageError` when it declares more than `MAX_PIXELS`."""
    image = Image.open(io.BytesIO(data))
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise ImageError(f"image has more than {MAX_PIXELS} pixels")
    return image


def _placeholder(look: Look) -> Image.Image:
    image = Image.new("RGB", (512, 512))
    draw = ImageDraw.Draw(image)
    for y in range(512):
        shade = y // 2
        draw.line([(0, y), (511, y)], fill=(shade, 255 - shade, look.color[2]))
    return image


def _crop_to_ratio(image: Image.Image, ratio: tuple[int, int]) -> Image.Image:
    width, height = image.size
    want_w, want_h = ratio
    if width * want_h > height * want_w:
        size = (max(1, height * want_w // want_h), height)
    else:
        size = (width, max(1, width * want_h // want_w))
    return ImageOps.fit(image, size)


def _apply_effect(image: Image.Image, effect: str) -> Image.Image:
    if effect == "invert":
        return ImageOps.invert(image)
    if effect == "posterize":
        return ImageOps.posterize(image, 2)
    if effect == "mirror":
        return ImageOps.solarize(ImageOps.mirror(image), threshold=128)
    raise ValueError(f"unknown effect {effect!r}")


def _paste_thumbnail(base: Image.Image, thumb: Image.Image, color: tuple[int, int, int]) -> None:
    margin = max(2, min(base.size) // 40)
    x = max(0, base.width - thumb.width - margin)
    y = max(0, base.height - thumb.height - margin)
    base.paste(thumb, (x, y))
    ImageDraw.Draw(base).rectangle(
        [(x, y), (x + thumb.width - 1, y + thumb.height - 1)], outline=color, width=2
    )


def _frame(image: Image.Image, look: Look) -> None:
    width = max(2, min(image.size) // 25)
    draw = ImageDraw.Draw(image)
    draw.rectangle([(0, 0), (image.width - 1, image.height - 1)], outline=look.color, width=width)
    if min(image.size) >= 64:
        draw.text((width + 2, width + 2), look.label, fill=look.color)
