"""Streaming multipart/form-data reading with a hard size limit.

The photo goes straight into the media store while the body is parsed, chunk by chunk, and
reading stops as soon as a limit is passed: an upload costs a few chunks of memory, never the
whole body. Text fields are small and kept in memory. Just before the photo's first byte is
stored, `before_photo` sees the fields read so far: the ingest password, when the client sends
it first, is checked there, so a wrong one never reaches the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from photochanger_contracts import ErrorCode
from photochanger_contracts.media import SNIFF_BYTES
from photochanger_runtime.media import MediaStore, MediaTooLarge, StoredObject
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from .errors import ApiError

FILE_FIELDS = ("fileToUpload", "file")
_MAX_TEXT_FIELD = 64 * 1024
_MAX_FIELDS = 64
#: chunks parsed but not yet written; the body is not read further until the store catches up
_PENDING_CHUNKS = 8


@dataclass
class UploadedFile:
    """The photo as stored: its first bytes (for sniffing the type) and what the store wrote."""

    field_name: str
    filename: str | None
    declared_type: str | None
    head: bytes = field(repr=False)
    stored: StoredObject


@dataclass
class IngestForm:
    fields: dict[str, str]
    file: UploadedFile | None


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    is_file: bool = False
    #: this part is the photo being written to the store
    streamed: bool = False
    head: bytes = b""


class _Collector:
    """python-multipart's callbacks: text fields into memory, the photo's chunks queued for
    the store, every other file part counted and dropped."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.photo_field: str | None = None
        #: what happened to photo parts in the last parsed chunk, in order:
        #: (part, None) it begins, (part, bytes) data, (part, True) it ends
        self.photo_events: list[tuple[_Part, bytes | bool | None]] = []
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        self.too_large = False
        self.too_many = False

    def on_part_begin(self) -> None:
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._part.headers[self._header_name.lower()] = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        part = self._part
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = options.get(b"name", b"").decode(errors="replace")
        raw_filename = options.get(b"filename")
        part.filename = raw_filename.decode(errors="replace") if raw_filename else None
        ctype = part.headers.get(b"content-type")
        part.content_type = ctype.decode(errors="replace") if ctype else None
        part.is_file = part.name in FILE_FIELDS or part.filename is not None
        # the first file part is the photo, unless `fileToUpload` (DSLR Remote Pro's name)
        # comes later: it then replaces one sent under another name
        if part.is_file and (
            self.photo_field is None
            or (part.name == FILE_FIELDS[0] and self.photo_field != FILE_FIELDS[0])
        ):
            part.streamed = True
            self.photo_field = part.name
            self.photo_events.append((part, None))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        part.size += end - start
        limit = self.max_file_bytes if part.is_file else _MAX_TEXT_FIELD
        if part.size > limit:
            self.too_large = True
            return
        if part.streamed:
            chunk = data[start:end]
            if len(part.head) < SNIFF_BYTES:
                part.head += chunk[: SNIFF_BYTES - len(part.head)]
            self.photo_events.append((part, chunk))
        elif not part.is_file:
            part.chunks.append(data[start:end])

    def on_part_end(self) -> None:
        part = self._part
        if self.too_large:
            return
        if part.streamed:
            self.photo_events.append((part, True))
            return
        if part.is_file:
            return
        if len(self.fields) >= _MAX_FIELDS:
            self.too_many = True
            return
        self.fields[part.name] = b"".join(part.chunks).decode("utf-8", errors="replace")


class _Upload:
    """One photo part on its way into the store: chunks through a small queue to `put`."""

    def __init__(self, store: MediaStore, key: str, part: _Part, max_bytes: int) -> None:
        self.part = part
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(_PENDING_CHUNKS)
        self._task = asyncio.create_task(
            store.put(key, self._chunks(), content_type="application/octet-stream",
                      max_bytes=max_bytes)
        )  # fmt: skip

    async def _chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    async def send(self, chunk: bytes) -> None:
        put = asyncio.ensure_future(self._queue.put(chunk))
        done, _ = await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:  # the store gave up (error): stop feeding it
            put.cancel()
            await self._task  # raises the store's error

    async def finish(self) -> StoredObject:
        await self.send_end()
        return await self._task

    async def send_end(self) -> None:
        if not self._task.done():
            await self._queue.put(None)

    async def abandon(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # nothing is kept either way
            await self._task


def require_multipart(content_type: str | None) -> tuple[bytes, dict[bytes, bytes]]:
    """415 for another media type, 400 for multipart without a boundary."""
    ctype, options = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "expected multipart/form-data",
            {"content_type": (content_type or "")[:100], "accepted": ["multipart/form-data"]},
        )
    if not options.get(b"boundary"):
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST,
            "expected multipart/form-data with a boundary",
            {"content_type": (content_type or "")[:100]},
        )
    return ctype, options


async def read_ingest_form(
    content_type: str | None,
    body: AsyncIterator[bytes],
    *,
    max_file_bytes: int,
    store: MediaStore,
    key: str,
    before_photo: Callable[[Mapping[str, str]], Awaitable[None]] | None = None,
) -> IngestForm:
    """Parse the request body, writing the photo to `store` under `key`; 415/400 for anything
    that is not well-formed multipart, 413 past the limit (checked while streaming). On any
    error — `before_photo`'s included — nothing is left in the store."""
    _, options = require_multipart(content_type)
    collector = _Collector(max_file_bytes)
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished", "on_part_data", "on_part_end",
        )
    }  # fmt: skip
    parser = MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
    upload: _Upload | None = None
    photo: UploadedFile | None = None
    try:
        async for chunk in body:
            parser.write(chunk)
            if collector.too_large:
                raise _too_large(max_file_bytes)
            events, collector.photo_events = collector.photo_events, []
            for part, event in events:
                if event is None:  # begins
                    if before_photo is not None and photo is None:
                        await before_photo(collector.fields)
                    upload = _Upload(store, key, part, max_file_bytes)
                elif event is True:  # ends
                    assert upload is not None
                    stored = await upload.finish()
                    upload = None
                    photo = UploadedFile(
                        field_name=part.name, filename=part.filename,
                        declared_type=part.content_type, head=part.head, stored=stored,
                    )  # fmt: skip
                else:
                    assert upload is not None and isinstance(event, bytes)
                    await upload.send(event)
        parser.finalize()
    except MultipartParseError as exc:
        await _discard(store, key, upload, photo)
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST, "malformed multipart body", {"reason": str(exc)}
        ) from exc
    except MediaTooLarge as exc:
        await _discard(store, key, upload, photo)
        raise _too_large(max_file_bytes) from exc
    except BaseException:
        await _discard(store, key, upload, photo)
        raise
    problem: ApiError | None = None
    if collector.too_many:
        problem = ApiError(
            ErrorCode.MALFORMED_REQUEST, "too many form fields", {"max": _MAX_FIELDS}
        )
    elif parser.state not in (MultipartState.END, MultipartState.END_BOUNDARY) or upload:
        problem = ApiError(
            ErrorCode.MALFORMED_REQUEST, "multipart body ended before its closing boundary", {}
        )
    if problem is not None:
        await _discard(store, key, upload, photo)
        raise problem
    return IngestForm(fields=collector.fields, file=photo)


def _too_large(max_file_bytes: int) -> ApiError:
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        "the photo is larger than the limit",
        {"max_bytes": max_file_bytes},
    )


async def _discard(
    store: MediaStore, key: str, upload: _Upload | None, photo: UploadedFile | None
) -> None:
    if upload is not None:
        await upload.abandon()
    if photo is not None or upload is not None:
        await store.delete(key)
