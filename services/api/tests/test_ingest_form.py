"""Streaming multipart reading and the ingest password check."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping

import pytest
from photochanger_api.errors import ApiError
from photochanger_api.multipart import IngestForm, read_ingest_form
from photochanger_api.passwords import IngestPasswordVerifier
from photochanger_contracts import ErrorCode
from photochanger_runtime.media.memory import InMemoryMediaStore

BOUNDARY = "XyZ"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"
KEY = "payloads/2026113013/job"


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


async def read(
    data: bytes | AsyncIterator[bytes],
    store: InMemoryMediaStore,
    *,
    ctype: str = CTYPE,
    max_file_bytes: int = 1000,
    chunk: int = 7,
) -> IngestForm:
    stream = chunks(data, chunk) if isinstance(data, bytes) else data
    return await read_ingest_form(
        ctype, stream, max_file_bytes=max_file_bytes, store=store, key=KEY
    )


async def test_fields_are_kept_and_the_photo_streams_into_the_store() -> None:
    photo = b"\xff\xd8\xff" + bytes(range(256)) * 4
    data = body(("password", b"pw", None), ("time", b"12:00", None),
                ("fileToUpload", photo, "a.jpg"), ("after", b"the photo", None))  # fmt: skip
    store = InMemoryMediaStore()
    form = await read(data, store, max_file_bytes=2000)
    assert form.fields == {"password": "pw", "time": "12:00", "after": "the photo"}
    assert form.file is not None and form.file.field_name == "fileToUpload"
    assert form.file.head == photo[:32]
    assert form.file.stored.size_bytes == len(photo)
    assert form.file.stored.sha256 == hashlib.sha256(photo).hexdigest()
    assert await store.read(KEY) == photo


@pytest.mark.parametrize("chunk", [1, 7, 64 * 1024])
async def test_file_field_is_accepted_and_filetoupload_wins(chunk: int) -> None:
    data = body(("file", b"second", "b.png"), ("fileToUpload", b"first", "a.png"),
                ("file", b"third", "c.png"))  # fmt: skip
    store = InMemoryMediaStore()
    form = await read(data, store, chunk=chunk)
    assert form.file is not None and form.file.field_name == "fileToUpload"
    assert await store.read(KEY) == b"first"
    assert list(store.objects) == [KEY]


async def test_a_form_without_a_photo_stores_nothing() -> None:
    store = InMemoryMediaStore()
    form = await read(body(("password", b"pw", None)), store)
    assert form.file is None and store.objects == {}


async def test_reading_stops_at_the_size_limit() -> None:
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        yield head.encode()
        while consumed < 50_000_000:
            consumed += 65536
            yield b"\0" * 65536

    store = InMemoryMediaStore()
    with pytest.raises(ApiError) as err:
        await read(endless(), store, max_file_bytes=1_000_000)
    assert err.value.status_code == 413
    assert consumed < 1_200_000  # stopped right after the limit, not at the end
    assert store.objects == {}  # nothing half-written is left


async def test_a_body_cut_inside_the_photo_leaves_nothing_stored() -> None:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
    store = InMemoryMediaStore()
    with pytest.raises(ApiError) as err:
        await read(head.encode() + b"\xff\xd8\xff" * 100, store)
    assert err.value.status_code == 400
    assert store.objects == {}


@pytest.mark.parametrize(
    ("ctype", "data"),
    [
        ("multipart/form-data", b"--x--"),
        (CTYPE, b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\ntruncated'),
        (CTYPE, b"garbage without boundaries"),
    ],
)
async def test_malformed_bodies_are_400(ctype: str, data: bytes) -> None:
    store = InMemoryMediaStore()
    with pytest.raises(ApiError) as err:
        await read(data, store, ctype=ctype)
    assert err.value.status_code == 400
    assert store.objects == {}


async def test_a_body_that_is_not_multipart_is_415() -> None:
    store = InMemoryMediaStore()
    with pytest.raises(ApiError) as err:
        await read(b"{}", store, ctype="application/json")
    assert err.value.status_code == 415
    assert store.objects == {}


async def test_a_password_sent_first_is_seen_before_the_photo_is_stored() -> None:
    """`before_photo` gets the fields read so far, and its refusal stores nothing."""
    data = body(("password", b"wrong", None), ("fileToUpload", b"\xff\xd8\xff" * 100, "a.jpg"))
    store = InMemoryMediaStore()
    seen: list[dict[str, str]] = []

    async def refuse(fields: Mapping[str, str]) -> None:
        seen.append(dict(fields))
        raise ApiError(ErrorCode.INVALID_PASSWORD, "no")

    with pytest.raises(ApiError) as err:
        await read_ingest_form(
            CTYPE, chunks(data), max_file_bytes=1000, store=store, key=KEY, before_photo=refuse
        )
    assert err.value.status_code == 401
    assert seen == [{"password": "wrong"}]
    assert store.objects == {}


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
