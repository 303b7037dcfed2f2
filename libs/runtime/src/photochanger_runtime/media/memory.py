"""An in-memory media store for unit tests: the same contract as the real backends (the
contract tests run against it too), no disk, no server."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime

from .keys import validate_key
from .store import MediaNotFound, MediaTooLarge, ObjectInfo, StoredObject


class _BytesReader:
    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = data
        self._chunk = chunk
        self.size_bytes = len(data)

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), self._chunk):
            yield self._data[start : start + self._chunk]

    async def aclose(self) -> None:
        return None


class InMemoryMediaStore:
    def __init__(self, *, read_chunk: int = 64 * 1024) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}
        self._read_chunk = read_chunk

    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        del content_type
        validate_key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            whole = bytes(data)
        else:
            parts: list[bytes] = []
            size = 0
            async for chunk in data:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise MediaTooLarge(max_bytes)
                parts.append(chunk)
            whole = b"".join(parts)
        if max_bytes is not None and len(whole) > max_bytes:
            raise MediaTooLarge(max_bytes)
        self.objects[key] = (whole, datetime.now(UTC))
        return StoredObject(
            key=key, size_bytes=len(whole), sha256=hashlib.sha256(whole).hexdigest()
        )

    async def open(self, key: str) -> _BytesReader:
        return _BytesReader(await self.read(key), self._read_chunk)

    async def read(self, key: str) -> bytes:
        try:
            return self.objects[validate_key(key)][0]
        except KeyError:
            raise MediaNotFound(key) from None

    async def stat(self, key: str) -> ObjectInfo | None:
        found = self.objects.get(validate_key(key))
        if found is None:
            return None
        return ObjectInfo(key=key, size_bytes=len(found[0]), last_modified=found[1])

    async def delete(self, key: str) -> bool:
        return self.objects.pop(validate_key(key), None) is not None

    async def delete_folder(self, prefix: str) -> int:
        folder = validate_key(prefix.rstrip("/")) + "/"
        keys = [key for key in self.objects if key.startswith(folder)]
        for key in keys:
            del self.objects[key]
        return len(keys)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        folder = prefix.rstrip("/") + "/"
        for key, (data, modified) in list(self.objects.items()):
            if key.startswith(folder):
                yield ObjectInfo(key=key, size_bytes=len(data), last_modified=modified)

    async def folders(self, prefix: str) -> AsyncIterator[str]:
        folder = prefix.rstrip("/") + "/"
        seen = sorted(
            {
                folder + key[len(folder) :].split("/", 1)[0] + "/"
                for key in self.objects
                if key.startswith(folder) and "/" in key[len(folder) :]
            }
        )
        for name in seen:
            yield name

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
