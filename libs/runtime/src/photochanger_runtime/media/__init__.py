"""Media: image bytes in a blob store (filesystem or S3), metadata and links in MongoDB."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .filesystem import FilesystemMediaStore
from .keys import InvalidKey, bucket_of, payload_key, result_key, template_key
from .store import (
    MediaNotFound,
    MediaReader,
    MediaStore,
    MediaTooLarge,
    MediaUnavailable,
    ObjectInfo,
    StoredObject,
)

__all__ = [
    "FilesystemMediaStore",
    "InvalidKey",
    "MediaNotFound",
    "MediaReader",
    "MediaStore",
    "MediaTooLarge",
    "MediaUnavailable",
    "ObjectInfo",
    "StoredObject",
    "bucket_of",
    "open_media_store",
    "payload_key",
    "result_key",
    "template_key",
]


def open_media_store(url: str, env: Mapping[str, str] | None = None) -> MediaStore:
    """The store a `PHOTOCHANGER_MEDIA_URL` names: `file:///abs/dir`, `file:rel/dir`, or
    `s3://bucket[/prefix]` (endpoint, region and credentials from the standard AWS_*
    variables of `env`, the process environment by default)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        raw = unquote(parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}")
        if not raw:
            raise ValueError(f"no directory in media URL {url!r}")
        return FilesystemMediaStore(Path(raw))
    if parts.scheme == "s3":
        from .s3 import S3MediaStore

        return S3MediaStore.from_url(url, env=env)
    raise ValueError(f"unsupported media URL {url!r}: use file:///dir or s3://bucket/prefix")
