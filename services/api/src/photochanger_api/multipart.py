"""Streaming multipart/form-data reading with a hard size limit.

The photo goes straight into the media store while the body is parsed, chunk by chunk, and
reading stops as soon as a limit is passed: an upload costs a few chunks of memory, never the
whole body. Just before the photo's first byte is stored, `before_photo` sees the fields read
so far: the ingest password, when the client sends it first, is checked there, so a wrong one
never reaches the store.

Nobody is authenticated while the form is read, so what it may cost is small and fixed
(`form_limits`): a few text fields of a few KiB, of which only the first KiB is kept, as bytes,
and decoded once the part has ended; bounded part headers and parts; a boundary of at most
70 characters (RFC 2046). The photo's MD5, SHA-1 and SHA-256 are computed while it streams,
for comparing with the client's `hash` without reading the photo back."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from photochanger_contracts import ErrorCode
from photochanger_contracts.media import SNIFF_BYTES
from photochanger_runtime.media import MediaStore, MediaTooLarge, StoredObject
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from . import form_limits as limits
from .errors import ApiError

FILE_FIELDS = ("fileToUpload", "file")
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
    #: hex digests computed while the photo streamed, by algorithm (`sha256` always)
    digests: dict[str, str] = field(default_factory=dict)


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
    header_bytes: int = 0


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
        #: why the form is refused (set by a callback, raised after the chunk)
        self.problem: ApiError | None = None
        self.parts = 0

    def on_part_begin(self) -> None:
        self._part = _Part()
        self.parts += 1
        if self.parts > limits.MAX_PARTS:
            self.problem = limits.too_many("parts", limits.MAX_PARTS)

    def _header_bytes(self, n: int) -> bool:
        self._part.header_bytes += n
        if self._part.header_bytes > limits.MAX_PART_HEADER_BYTES:
            self.problem = limits.headers_too_large()
            return False
        return True

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        if self._header_bytes(end - start):
            self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        if self._header_bytes(end - start):
            self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if len(self._part.headers) >= limits.MAX_PART_HEADERS:
            self.problem = limits.headers_too_large()
        else:
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
        if part.is_file:
            if part.size > self.max_file_bytes:
                self.too_large = True
            elif part.streamed:
                chunk = data[start:end]
                if len(part.head) < SNIFF_BYTES:
                    part.head += chunk[: SNIFF_BYTES - len(part.head)]
                self.photo_events.append((part, chunk))
            return
        if part.size > limits.MAX_TEXT_FIELD_BYTES:
            self.problem = limits.field_too_large(part.name)
            return
        kept = sum(len(c) for c in part.chunks)
        if kept < limits.KEPT_TEXT_BYTES:  # the rest is read past, never kept
            take = min(end - start, limits.KEPT_TEXT_BYTES - kept)
            part.chunks.append(data[start : start + take])

    def on_part_end(self) -> None:
        part = self._part
        if self.too_large:
            return
        if part.streamed:
            self.photo_events.append((part, True))
            return
        if part.is_file or self.problem is not None:
            return
        if len(self.fields) >= limits.MAX_TEXT_FIELDS:
            self.problem = limits.too_many("text fields", limits.MAX_TEXT_FIELDS)
            return
        self.fields[part.name[: limits.MAX_FIELD_NAME]] = limits.decode(b"".join(part.chunks))


class _Upload:
    """One photo part on its way into the store: chunks through a small queue to `put`."""

    def __init__(
        self, store: MediaStore, key: str, part: _Part, max_bytes: int, algorithms: tuple[str, ...]
    ) -> None:
        self.part = part
        self._hashes = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(_PENDING_CHUNKS)
        self._task = asyncio.create_task(
            store.put(key, self._chunks(), content_type="application/octet-stream",
                      max_bytes=max_bytes)
        )  # fmt: skip

    async def _chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    def _digest(self, chunk: bytes) -> None:
        for digest in self._hashes.values():
            digest.update(chunk)

    async def send(self, chunk: bytes) -> None:
        if self._hashes:
            # off the event loop (hashlib lets go of the GIL): fifty 20 MiB uploads hashed
            # inline held the loop for seconds, and a booth's database call timed out
            await asyncio.to_thread(self._digest, chunk)
        put = asyncio.ensure_future(self._queue.put(chunk))
        done, _ = await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:  # the store gave up (error): stop feeding it
            put.cancel()
            await self._task  # raises the store's error

    async def finish(self) -> tuple[StoredObject, dict[str, str]]:
        await self.send_end()
        stored = await self._task
        digests = {name: h.hexdigest() for name, h in self._hashes.items()}
        return stored, {**digests, "sha256": stored.sha256}

    async def send_end(self) -> None:
        if not self._task.done():
            await self._queue.put(None)

    async def abandon(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # nothing is kept either way
            await self._task


def require_multipart(content_type: str | None) -> tuple[bytes, dict[bytes, bytes]]:
    """415 for another media type, 400 for multipart without a boundary."""
    try:
        ctype, options = parse_options_header(content_type or "")
    except ValueError:  # not latin-1 (a header never is; a caller's string may be)
        ctype, options = b"", {}
    if ctype != b"multipart/form-data":
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "expected multipart/form-data",
            {"content_type": (content_type or "")[:100], "accepted": ["multipart/form-data"]},
        )
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > limits.MAX_BOUNDARY:
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST,
            f"expected multipart/form-data with a boundary of 1 to {limits.MAX_BOUNDARY} "
            "characters",
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
    upload: _Upload | None = None
    photo: UploadedFile | None = None
    try:
        parser = MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
        async for chunk in body:
            parser.write(chunk)
            if collector.problem is not None:
                raise collector.problem
            if collector.too_large:
                raise _too_large(max_file_bytes)
            events, collector.photo_events = collector.photo_events, []
            for part, event in events:
                if event is None:  # begins
                    if before_photo is not None and photo is None:
                        await before_photo(collector.fields)
                    wanted = limits.digests_for(collector.fields)
                    upload = _Upload(store, key, part, max_file_bytes, wanted)
                elif event is True:  # ends
                    assert upload is not None
                    stored, digests = await upload.finish()
                    upload = None
                    photo = UploadedFile(
                        field_name=part.name, filename=part.filename,
                        declared_type=part.content_type, head=part.head, stored=stored,
                        digests=digests,
                    )  # fmt: skip
                else:
                    assert upload is not None and isinstance(event, bytes)
                    await upload.send(event)
        parser.finalize()
    except MediaTooLarge as exc:
        await _discard(store, key, upload, photo)
        raise _too_large(max_file_bytes) from exc
    except FormParserError as exc:  # the parser's refusals, its own limits included
        await _discard(store, key, upload, photo)
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST, "malformed multipart body", {"reason": str(exc)[:200]}
        ) from exc
    except BaseException:
        await _discard(store, key, upload, photo)
        raise
    problem: ApiError | None = collector.problem
    ended = parser.state in (MultipartState.END, MultipartState.END_BOUNDARY)
    if problem is None and (not ended or upload):
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
