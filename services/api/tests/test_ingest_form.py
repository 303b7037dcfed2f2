"""Streaming multipart reading and the ingest password check."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from photochanger_api.errors import ApiError
from photochanger_api.multipart import read_ingest_form
from photochanger_api.passwords import IngestPasswordVerifier

BOUNDARY = "XyZ"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[str, bytes, str | None]) -> bytes:
    out = b""
    for name, data, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_fields_and_the_photo_are_read_in_small_chunks() -> None:
    data = body(("password", b"pw", None), ("time", b"12:00", None),
                ("fileToUpload", b"\xff\xd8\xff" + b"x" * 100, "a.jpg"))  # fmt: skip
    form = await read_ingest_form(CTYPE, chunks(data), max_file_bytes=1000)
    assert form.fields == {"password": "pw", "time": "12:00"}
    assert form.file is not None and form.file.field_name == "fileToUpload"
    assert form.file.data.startswith(b"\xff\xd8\xff") and len(form.file.data) == 103


async def test_file_field_is_accepted_and_filetoupload_wins() -> None:
    data = body(("file", b"second", "b.png"), ("fileToUpload", b"first", "a.png"))
    form = await read_ingest_form(CTYPE, chunks(data), max_file_bytes=1000)
    assert form.file is not None and form.file.data == b"first"


async def test_reading_stops_at_the_size_limit() -> None:
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        yield head.encode()
        while consumed < 50_000_000:
            consumed += 65536
            yield b"\0" * 65536

    with pytest.raises(ApiError) as err:
        await read_ingest_form(CTYPE, endless(), max_file_bytes=1_000_000)
    assert err.value.status_code == 413
    assert consumed < 1_200_000  # stopped right after the limit, not at the end


@pytest.mark.parametrize(
    ("ctype", "data"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x--"),
        (CTYPE, b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\ntruncated'),
        (CTYPE, b"garbage without boundaries"),
    ],
)
async def test_malformed_bodies_are_400(ctype: str, data: bytes) -> None:
    with pytest.raises(ApiError) as err:
        await read_ingest_form(ctype, chunks(data), max_file_bytes=1000)
    assert err.value.status_code == 400


async def test_password_check_is_slow_once_then_memoized_and_rotation_aware() -> None:
    verifier = IngestPasswordVerifier()
    stored = verifier.hash("secret")
    assert "secret" not in stored
    assert await verifier.verify(stored, "secret")
    assert await verifier.verify(stored, "secret")  # memo path
    assert not await verifier.verify(stored, "Secret")
    assert not await verifier.verify(stored, None)
    rotated = verifier.hash("new")
    assert not await verifier.verify(rotated, "secret")  # the memo belongs to the old hash
    assert await verifier.verify(rotated, "new")
