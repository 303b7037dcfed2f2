"""Streaming multipart/form-data reading with a hard size limit.

The photo is read chunk by chunk and reading stops as soon as the limit is passed, so an
oversized upload costs at most `limit` bytes of memory, never the whole body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from photochanger_contracts import ErrorCode
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from .errors import ApiError

FILE_FIELDS = ("fileToUpload", "file")
_MAX_TEXT_FIELD = 64 * 1024
_MAX_FIELDS = 64


@dataclass
class UploadedFile:
    field_name: str
    filename: str | None
    declared_type: str | None
    data: bytes = field(repr=False)


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


class _Collector:
    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.file: UploadedFile | None = None
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        self.too_large = False
        self.too_many = False

    # python-multipart callbacks -----------------------------------------------------------
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
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        self._part.name = options.get(b"name", b"").decode(errors="replace")
        raw_filename = options.get(b"filename")
        self._part.filename = raw_filename.decode(errors="replace") if raw_filename else None
        ctype = self._part.headers.get(b"content-type")
        self._part.content_type = ctype.decode(errors="replace") if ctype else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        part.size += end - start
        is_file = part.name in FILE_FIELDS or part.filename is not None
        limit = self.max_file_bytes if is_file else _MAX_TEXT_FIELD
        if part.size > limit:
            self.too_large = True
            return
        part.chunks.append(data[start:end])

    def on_part_end(self) -> None:
        part = self._part
        if self.too_large:
            return
        if part.name in FILE_FIELDS or part.filename is not None:
            if self.file is None or (
                part.name == FILE_FIELDS[0] and self.file.field_name != FILE_FIELDS[0]
            ):
                self.file = UploadedFile(
                    field_name=part.name,
                    filename=part.filename,
                    declared_type=part.content_type,
                    data=b"".join(part.chunks),
                )
            return
        if len(self.fields) >= _MAX_FIELDS:
            self.too_many = True
            return
        self.fields[part.name] = b"".join(part.chunks).decode("utf-8", errors="replace")


async def read_ingest_form(
    content_type: str | None, body: AsyncIterator[bytes], *, max_file_bytes: int
) -> IngestForm:
    """Parse the request body; 400 for anything that is not well-formed multipart, 413 past
    the limit (checked while streaming)."""
    ctype, options = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or not options.get(b"boundary"):
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST,
            "expected multipart/form-data with a boundary",
            {"content_type": content_type or ""},
        )
    collector = _Collector(max_file_bytes)
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished", "on_part_data", "on_part_end",
        )
    }  # fmt: skip
    parser = MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in body:
            parser.write(chunk)
            if collector.too_large:
                raise ApiError(
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    "the photo is larger than the limit",
                    {"max_bytes": max_file_bytes},
                )
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST, "malformed multipart body", {"reason": str(exc)}
        ) from exc
    if collector.too_many:
        raise ApiError(ErrorCode.MALFORMED_REQUEST, "too many form fields", {"max": _MAX_FIELDS})
    if parser.state not in (MultipartState.END, MultipartState.END_BOUNDARY):
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST, "multipart body ended before its closing boundary", {}
        )
    return IngestForm(fields=collector.fields, file=collector.file)
