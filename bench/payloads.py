"""Request bodies: a tiny PNG made unique per request by a text chunk, in a multipart form.

Every request carries a distinct image, so the emulator's per-image submission counter and
the job documents' payload sha256 identify each request's job exactly (duplicates show)."""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from dataclasses import dataclass

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def base_png(side: int = 64) -> tuple[bytes, bytes]:
    """An RGB picture (a gradient with a square) as PNG, split before its IEND chunk."""
    rows = bytearray()
    for y in range(side):
        rows.append(0)  # filter type: none
        for x in range(side):
            inside = side // 4 <= x < side // 2 and side // 4 <= y < side // 2
            rows += bytes((250, 250, 0) if inside else (x * 255 // side, 120, y * 255 // side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    head = _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
    return head, _chunk(b"IEND", b"")


def text_chunk(keyword: str, value: str) -> bytes:
    return _chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + value.encode("latin-1"))


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    sha256: str


class PhotoFactory:
    """Distinct PNGs: the same picture with a unique `bench-id` text chunk (and optionally an
    `emulate` chunk with emulator directives, e.g. `slow=20`)."""

    def __init__(self, side: int = 64) -> None:
        self._head, self._tail = base_png(side)

    def make(self, emulate: str | None = None) -> Photo:
        extra = text_chunk("emulate", emulate) if emulate else b""
        data = self._head + text_chunk("bench-id", uuid.uuid4().hex) + extra + self._tail
        return Photo(data=data, sha256=hashlib.sha256(data).hexdigest())


BOUNDARY = "photochanger-bench-" + "b" * 16
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def multipart_body(password: str, photo: bytes, filename: str = "photo.png") -> bytes:
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
            + filename.encode()
            + b'"\r\nContent-Type: image/png\r\n\r\n',
            photo,
            b"\r\n--" + b + b"--\r\n",
        )
    )
