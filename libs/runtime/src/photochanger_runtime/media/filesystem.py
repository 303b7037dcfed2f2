"""The filesystem media store: one file per key under a root directory.

Writes go to a temporary file in the target's directory and are renamed into place, so
readers in this or any other process on the host see a whole file or none, and two writers
of the same key leave one of the two whole. File I/O runs on the event loop: photos are
written to and read from the page cache in tens of microseconds per chunk, cheaper than a
hop to a worker thread. There is no fsync: an ingest photo lives for a minute, and a result
lost to a power cut is the price of the embedded default (an S3 store is the durable one)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from .keys import validate_key
from .store import MediaNotFound, MediaTooLarge, MediaUnavailable, ObjectInfo, StoredObject

_READ_CHUNK = 256 * 1024
_TEMP_SUFFIX = ".part"


class _FileReader:
    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size_bytes = size

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := self._handle.read(_READ_CHUNK):
                yield chunk
        finally:
            self._handle.close()

    async def aclose(self) -> None:
        self._handle.close()


class FilesystemMediaStore:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        return self._root / validate_key(key)

    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        del content_type  # sniffed again from the bytes by whoever serves them
        target = self._path(key)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")
        digest = hashlib.sha256()
        size = 0
        try:
            with _create(temp) as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    if max_bytes is not None and len(data) > max_bytes:
                        raise MediaTooLarge(max_bytes)
                    out.write(data)
                    digest.update(data)
                    size = len(data)
                else:
                    async for chunk in data:
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            raise MediaTooLarge(max_bytes)
                        out.write(chunk)
                        digest.update(chunk)
            temp.replace(target)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            if isinstance(exc, OSError):  # out of space, read-only, permissions
                raise MediaUnavailable(f"the media directory failed: {exc.strerror}") from exc
            raise
        return StoredObject(key=key, size_bytes=size, sha256=digest.hexdigest())

    async def open(self, key: str) -> _FileReader:
        try:
            handle = self._path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise MediaNotFound(key) from exc
        return _FileReader(handle, os.fstat(handle.fileno()).st_size)

    async def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise MediaNotFound(key) from exc

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(key=key, size_bytes=st.st_size, last_modified=_mtime(st.st_mtime))

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        # the folder stays (writers of its bucket keep using it): `delete_folder` removes it
        return True

    async def delete_folder(self, prefix: str) -> int:
        base = self._root / validate_key(prefix.rstrip("/"))
        deleted = 0
        for dirpath, dirnames, filenames in os.walk(base, topdown=False):
            for name in filenames:
                with contextlib.suppress(FileNotFoundError):
                    (Path(dirpath) / name).unlink()
                    if not name.endswith(_TEMP_SUFFIX):
                        deleted += 1
            for name in dirnames:
                with contextlib.suppress(OSError):  # gone, or a late writer's file in it
                    (Path(dirpath) / name).rmdir()
        with contextlib.suppress(OSError):
            base.rmdir()
        return deleted

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        base = self._root / validate_key(prefix.rstrip("/"))
        for dirpath, _, filenames in os.walk(base):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                # temporary files are listed too: the orphan sweep removes those of dead writers
                key = path.relative_to(self._root).as_posix()
                yield ObjectInfo(key=key, size_bytes=st.st_size, last_modified=_mtime(st.st_mtime))

    async def folders(self, prefix: str) -> AsyncIterator[str]:
        base = self._root / validate_key(prefix.rstrip("/"))
        try:
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.is_dir():
                yield f"{prefix.rstrip('/')}/{entry.name}/"

    async def ping(self) -> None:
        if not os.access(self._root, os.W_OK):
            raise PermissionError(f"media directory {self._root} is not writable")

    async def aclose(self) -> None:
        return None


def _create(path: Path) -> BinaryIO:
    """A new file, with its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("xb")


def _mtime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
