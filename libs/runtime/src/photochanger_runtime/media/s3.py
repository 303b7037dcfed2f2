"""The S3 media store: one object per key in a bucket, under an optional prefix.

Any S3-compatible service: AWS S3, MinIO, Ceph RGW, versitygw (our tests). The client is
obstore (Rust `object_store` under a small Python API; ADR-0010 has the measurements).

Writes are single `PutObject` requests up to `multipart_threshold` (a photo, whole, in one
request), and a multipart upload beyond it; either way S3 makes the object visible only when it
is complete, so readers see a whole object or none and two writers of the same key leave one of
the two whole. A streamed put that passes `max_bytes` stops reading, aborts its multipart upload
(if it had started one) and stores nothing. Size and sha256 are computed from the bytes as they
are sent."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar
from urllib.parse import urlsplit

import obstore
import obstore.exceptions
from obstore.store import S3Store

from ..secrets import with_file_variables
from .keys import validate_key
from .store import MediaNotFound, MediaTooLarge, MediaUnavailable, ObjectInfo, StoredObject

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ClientConfig, RetryConfig, S3Config

DEFAULT_MULTIPART_THRESHOLD: Final = 8 * 1024 * 1024
"""Streams up to this size go in one PutObject; larger ones in parts of this size."""
_MIN_PART_SIZE: Final = 5 * 1024 * 1024  # S3's minimum for every part but the last
_READ_CHUNK: Final = 256 * 1024
_LIST_CHUNK: Final = 1000
_PING_PREFIX: Final = "photochanger-ping/"
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


P = ParamSpec("P")
R = TypeVar("R")


def _unavailable(exc: obstore.exceptions.BaseError) -> MediaUnavailable:
    # the type names the failure; the text (URLs, retry details) stays in the chained cause
    return MediaUnavailable(f"the S3 store failed: {type(exc).__name__}")


def _reachable(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """A store method whose S3 failures surface as MediaUnavailable (not-found and
    too-large keep their own meaning)."""

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except obstore.exceptions.BaseError as exc:
            raise _unavailable(exc) from exc

    return run


class _S3Reader:
    def __init__(self, stream: AsyncIterator[bytes], size: int) -> None:
        self._stream = stream
        self.size_bytes = size

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except obstore.exceptions.BaseError as exc:
            raise _unavailable(exc) from exc

    async def aclose(self) -> None:
        # The response body is released when the stream is dropped; nothing to flush.
        return None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class S3MediaStore:
    """Objects named `{prefix}/{key}` in `bucket`.

    Without `endpoint` the AWS default for the region is used (virtual-hosted addressing);
    with one, path-style addressing (`{endpoint}/{bucket}/{key}`), which every S3-compatible
    server understands. Plain `http://` endpoints are accepted on loopback addresses, elsewhere
    only with `allow_http=True`. Credentials left out are looked up by obstore the AWS way
    (environment, web identity token, container or instance metadata)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        allow_http: bool = False,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        request_timeout: timedelta = timedelta(seconds=60),
    ) -> None:
        if not bucket:
            raise ValueError("an S3 media store needs a bucket")
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        if multipart_threshold < _MIN_PART_SIZE:
            raise ValueError(f"multipart_threshold must be at least {_MIN_PART_SIZE} bytes")
        config: S3Config = {}
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"S3 endpoint {endpoint!r} is not an http(s) URL")
            if parts.scheme == "http":
                if not (allow_http or _is_loopback(parts.hostname)):
                    raise ValueError(
                        f"S3 endpoint {endpoint!r} is plain http on a non-loopback address; "
                        "use https, or set AWS_ALLOW_HTTP=true to accept it"
                    )
                allow_http = True
            config["endpoint"] = endpoint.rstrip("/")
            config["virtual_hosted_style_request"] = False
        if region:
            config["region"] = region
        if access_key_id and secret_access_key:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
            if session_token:
                config["session_token"] = session_token
        client: ClientConfig = {
            "allow_http": allow_http,
            "connect_timeout": timedelta(seconds=5),
            "timeout": request_timeout,
        }
        # Bounded: a caller with a 48 s deadline must hear about a dead store in time.
        retry: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=15)}
        self._bucket = bucket
        self._prefix = prefix
        self._threshold = multipart_threshold
        self._store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,
            client_options=client,
            retry_config=retry,
        )

    #: the standard variables `from_url` reads
    ENV_NAMES = (
        "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ALLOW_HTTP",
    )  # fmt: skip

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] | None = None) -> S3MediaStore:
        """`s3://bucket[/prefix]`, with the endpoint, region and credentials of the standard
        variables in `env` (default: the process environment): `AWS_ENDPOINT_URL_S3` or
        `AWS_ENDPOINT_URL`, `AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
        `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (each also as `<NAME>_FILE`, a mounted
        secret); `AWS_ALLOW_HTTP=true` for a plain-http endpoint that is not on loopback."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"media URL {url!r} is not s3://bucket[/prefix]")
        if parts.query or parts.fragment:
            raise ValueError(f"media URL {url!r}: no query or fragment allowed")
        values = with_file_variables(os.environ if env is None else env)
        return cls(
            parts.netloc,
            parts.path,
            endpoint=values.get("AWS_ENDPOINT_URL_S3") or values.get("AWS_ENDPOINT_URL") or None,
            region=values.get("AWS_REGION") or values.get("AWS_DEFAULT_REGION") or None,
            access_key_id=values.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=values.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=values.get("AWS_SESSION_TOKEN") or None,
            allow_http=_truthy(values.get("AWS_ALLOW_HTTP")),
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    @_reachable
    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        validate_key(key)
        attributes = {"Content-Type": content_type}
        if isinstance(data, bytes | bytearray | memoryview):
            if max_bytes is not None and len(data) > max_bytes:
                raise MediaTooLarge(max_bytes)
            body = bytes(data)
            await obstore.put_async(
                self._store, key, body, attributes=attributes, use_multipart=False
            )
            return StoredObject(key=key, size_bytes=len(body), sha256=_sha256(body))

        digest = hashlib.sha256()
        size = 0
        source = aiter(data)
        head: list[bytes] = []
        # Up to the threshold in memory: most objects end there and go in one request.
        while size <= self._threshold:
            try:
                chunk = bytes(await anext(source))
            except StopAsyncIteration:
                body = b"".join(head)
                await obstore.put_async(
                    self._store, key, body, attributes=attributes, use_multipart=False
                )
                return StoredObject(key=key, size_bytes=size, sha256=digest.hexdigest())
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise MediaTooLarge(max_bytes)
            digest.update(chunk)
            head.append(chunk)

        async def parts() -> AsyncIterator[bytes]:
            # Raising in here makes obstore abort the multipart upload: nothing is stored.
            nonlocal size
            for chunk in head:
                yield chunk
            head.clear()
            async for item in source:
                chunk = bytes(item)
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise MediaTooLarge(max_bytes)
                digest.update(chunk)
                yield chunk

        await obstore.put_async(
            self._store,
            key,
            parts(),
            attributes=attributes,
            use_multipart=True,
            chunk_size=self._threshold,
            max_concurrency=2,
        )
        return StoredObject(key=key, size_bytes=size, sha256=digest.hexdigest())

    @_reachable
    async def open(self, key: str) -> _S3Reader:
        validate_key(key)
        try:
            result = await obstore.get_async(self._store, key)
        except FileNotFoundError as exc:
            raise MediaNotFound(key) from exc
        return _S3Reader(result.stream(min_chunk_size=_READ_CHUNK), result.meta["size"])

    @_reachable
    async def read(self, key: str) -> bytes:
        validate_key(key)
        try:
            result = await obstore.get_async(self._store, key)
            return (await result.bytes_async()).to_bytes()
        except FileNotFoundError as exc:
            raise MediaNotFound(key) from exc

    @_reachable
    async def stat(self, key: str) -> ObjectInfo | None:
        validate_key(key)
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        return _info(meta)

    @_reachable
    async def delete(self, key: str) -> bool:
        # S3's DeleteObject succeeds whether or not the object was there: ask first. Two
        # concurrent deletes of one key may both answer True; the object is gone either way.
        if await self.stat(key) is None:
            return False
        await obstore.delete_async(self._store, key)
        return True

    @_reachable
    async def delete_folder(self, prefix: str) -> int:
        # S3 has no folders: deleting the last object under a prefix removes it from listings.
        # The count is of what was listed (two replicas purging at once may both count a key).
        folder = validate_key(prefix.rstrip("/")) + "/"
        deleted = 0
        async for batch in obstore.list(self._store, folder, chunk_size=_LIST_CHUNK):
            keys = [meta["path"] for meta in batch]
            await obstore.delete_async(self._store, keys)  # one DeleteObjects per 1000 keys
            deleted += len(keys)
        return deleted

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        folder = validate_key(prefix.rstrip("/")) + "/"
        # obstore follows S3's continuation tokens; each chunk is one batch of results.
        try:
            async for batch in obstore.list(self._store, folder, chunk_size=_LIST_CHUNK):
                for meta in batch:
                    yield _info(meta)
        except obstore.exceptions.BaseError as exc:
            raise _unavailable(exc) from exc

    async def folders(self, prefix: str) -> AsyncIterator[str]:
        folder = validate_key(prefix.rstrip("/")) + "/"
        try:
            listing = await obstore.list_with_delimiter_async(self._store, folder)
        except obstore.exceptions.BaseError as exc:
            raise _unavailable(exc) from exc
        for common in sorted(listing["common_prefixes"]):
            yield f"{common.rstrip('/')}/"

    @_reachable
    async def ping(self) -> None:
        """One signed ListObjectsV2 on the bucket: checks address, credentials and bucket."""
        await obstore.list_with_delimiter_async(self._store, _PING_PREFIX)

    async def aclose(self) -> None:
        return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _info(meta: ObjectMeta) -> ObjectInfo:
    return ObjectInfo(
        key=meta["path"], size_bytes=meta["size"], last_modified=meta["last_modified"]
    )
