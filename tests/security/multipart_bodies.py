"""Multipart ingest bodies built by hand: parts in the order an attacker (or DSLR Remote Pro)
chooses, streamed from one shared buffer so fifty 20 MiB uploads cost the test little memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

BOUNDARY = "----photochanger-security-test"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CHUNK = 256 * 1024


def text_part(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def file_head(name: str = "fileToUpload", filename: str = "photo.jpg") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()


END = f"--{BOUNDARY}--\r\n".encode()


def length(parts: Iterable[bytes | memoryview]) -> int:
    return sum(len(p) for p in parts)


async def stream(parts: Iterable[bytes | memoryview]) -> AsyncIterator[bytes]:
    """The parts in chunks of at most `CHUNK` bytes (copies of one chunk at a time)."""
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])


def photo_then_password(photo: bytes, password: str) -> list[bytes | memoryview]:
    """The file first, the password after it: nothing tells the server who is asking until
    the whole body has arrived."""
    return [file_head(), memoryview(photo), b"\r\n", text_part("password", password), END]


def password_then_photo(password: str, photo: bytes) -> list[bytes | memoryview]:
    return [text_part("password", password), file_head(), memoryview(photo), b"\r\n", END]
