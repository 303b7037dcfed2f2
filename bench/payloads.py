"""Request bodies: one base photo made unique per request, in a multipart form.

Every request carries a distinct image, so the emulator's per-image submission counter
identifies each request's provider calls exactly (duplicates show). The photo is made
unique by cheap byte splicing, never by re-encoding:

- JPEG: a comment segment (COM, 0xFFFE) ``bench-id: <hex>`` right after SOI (and, when asked,
  a second one ``emulate: <directives>`` that the emulators read);
- PNG: a ``tEXt`` chunk ``bench-id`` (and ``emulate``) right after IHDR;
- anything else: ``bench-id:<hex>`` appended after the last byte (directives impossible).
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from dataclasses import dataclass

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
_PNG_IHDR_END = len(_PNG_SIGNATURE) + 8 + 13 + 4  # signature, IHDR header, body, crc


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def base_png(side: int = 64) -> bytes:
    """The old tiny picture (a gradient with a square) as PNG: the `tiny` photo preset."""
    rows = bytearray()
    for y in range(side):
        rows.append(0)  # filter type: none
        for x in range(side):
            inside = side // 4 <= x < side // 2 and side // 4 <= y < side // 2
            rows += bytes((250, 250, 0) if inside else (x * 255 // side, 120, y * 255 // side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def text_chunk(keyword: str, value: str) -> bytes:
    return _chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + value.encode("latin-1"))


def jpeg_comment(text: str) -> bytes:
    """A JPEG COM segment holding ``text`` (at most 65,533 bytes)."""
    body = text.encode("utf-8")
    if len(body) > 65533:
        raise ValueError("a JPEG comment holds at most 65,533 bytes")
    return b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body


def kind_of(data: bytes) -> str:
    """``jpeg``, ``png`` or ``other`` by the leading bytes."""
    if data.startswith(_JPEG_SOI + b"\xff"):
        return "jpeg"
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR":
        return "png"
    return "other"


MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "other": "application/octet-stream"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "other": "bin"}


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    sha256: str
    mime_type: str
    filename: str


class PhotoFactory:
    """Distinct photos from one base: the same picture with a unique `bench-id` (and
    optionally emulator directives, e.g. ``slow=20``)."""

    def __init__(self, base: bytes) -> None:
        self.base = base
        self.kind = kind_of(base)
        self.base_sha256 = hashlib.sha256(base).hexdigest()
        cut = {"jpeg": len(_JPEG_SOI), "png": _PNG_IHDR_END, "other": len(base)}[self.kind]
        self._head, self._tail = base[:cut], base[cut:]

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.kind]

    def make(self, emulate: str | None = None) -> Photo:
        tag = uuid.uuid4().hex
        if self.kind == "jpeg":
            extra = jpeg_comment(f"bench-id: {tag}")
            if emulate:
                extra += jpeg_comment(f"emulate: {emulate}")
        elif self.kind == "png":
            extra = text_chunk("bench-id", tag)
            if emulate:
                extra += text_chunk("emulate", emulate)
        else:
            if emulate:
                raise ValueError("emulator directives need a JPEG or PNG photo")
            extra = f"bench-id:{tag}".encode()
        data = self._head + extra + self._tail
        return Photo(
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            mime_type=self.mime_type,
            filename=f"photo.{EXTENSIONS[self.kind]}",
        )


BOUNDARY = "photochanger-bench-" + "b" * 16
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def multipart_body(password: str, photo: Photo) -> bytes:
    """The form a photobooth sends: `password` and `fileToUpload` (built once per request,
    by hand, so the load generator spends little CPU on encoding)."""
    b = BOUNDARY.encode()
    return b"".join(
        (
            b"--" + b + b"\r\n",
            b'Content-Disposition: form-data; name="password"\r\n\r\n',
            password.encode(),
            b"\r\n--" + b + b"\r\n",
            b'Content-Disposition: form-data; name="fileToUpload"; filename="'
            + photo.filename.encode()
            + b'"\r\nContent-Type: '
            + photo.mime_type.encode()
            + b"\r\n\r\n",
            photo.data,
            b"\r\n--" + b + b"--\r\n",
        )
    )
