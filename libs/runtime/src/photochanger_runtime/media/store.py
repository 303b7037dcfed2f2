"""The media store: where image bytes live. MongoDB keeps only keys and metadata.

One interface, chosen by one setting (`PHOTOCHANGER_MEDIA_URL`): `file:///…` for a single
machine, `s3://bucket/prefix` for any S3-compatible service. Callers name objects by key
(see `keys.py` for the layout); the store knows nothing about jobs."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class MediaNotFound(LookupError):
    """No object under that key (never stored, or deleted)."""


class MediaUnavailable(RuntimeError):
    """The store could not do it now (unreachable, refusing, out of space): try again later.
    The message names the failure, never a key's bytes or a credential."""


class MediaTooLarge(ValueError):
    """A streamed put passed its `max_bytes`; nothing was stored."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"more than {max_bytes} bytes")
        self.max_bytes = max_bytes


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a put wrote: the size and sha256 computed while writing."""

    key: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size_bytes: int
    last_modified: datetime


class MediaReader(Protocol):
    """An open object: its size is known before the first byte is read."""

    size_bytes: int

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class MediaStore(Protocol):
    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Store an object whole or not at all (a reader never sees half of it); an existing
        object under `key` is replaced. Raises MediaTooLarge past `max_bytes`."""
        ...

    async def open(self, key: str) -> MediaReader:
        """Open an object for streaming; raises MediaNotFound before anything is read."""
        ...

    async def read(self, key: str) -> bytes:
        """The whole object; raises MediaNotFound."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def delete(self, key: str) -> bool:
        """Delete an object; False when it was not there (idempotent)."""
        ...

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under the folder `prefix` (ending in "/"), at any depth."""
        ...

    def folders(self, prefix: str) -> AsyncIterator[str]:
        """The folders one level below `prefix` (each ending in "/"), e.g. expiry buckets. A
        folder whose objects were all deleted may still be listed until `delete_folder`."""
        ...

    async def delete_folder(self, prefix: str) -> int:
        """Delete every object under the folder `prefix`, and the folder; how many objects
        were deleted (an expired bucket). Writers must not be adding to it any more."""
        ...

    async def ping(self) -> None:
        """Raise when the store cannot be reached (readiness)."""
        ...

    async def aclose(self) -> None: ...
