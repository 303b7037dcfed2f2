"""Recognising image formats from their leading bytes (never from client headers)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ImageMime(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"
    HEIC = "image/heic"
    HEIF = "image/heif"


COMMON_IMAGE_TYPES: Final = frozenset({ImageMime.JPEG, ImageMime.PNG, ImageMime.WEBP})
HEIF_FAMILY: Final = frozenset({ImageMime.HEIC, ImageMime.HEIF})
SNIFF_BYTES: Final = 32

_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1", b"heif"})


def sniff_image_mime(head: bytes) -> ImageMime | None:
    """The image type announced by the first bytes of a file, or None if it is not one of ours."""
    if head.startswith(b"\xff\xd8\xff"):
        return ImageMime.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageMime.PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageMime.WEBP
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIC_BRANDS:
            return ImageMime.HEIC
        if brand in _HEIF_BRANDS:
            return ImageMime.HEIF
    return None


def extension_for(mime: str) -> str:
    return {
        ImageMime.JPEG: "jpg",
        ImageMime.PNG: "png",
        ImageMime.WEBP: "webp",
        ImageMime.HEIC: "heic",
        ImageMime.HEIF: "heif",
    }.get(ImageMime(mime), "bin")
