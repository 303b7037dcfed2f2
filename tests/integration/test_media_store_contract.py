"""One contract for every media store: the filesystem store and the S3 store (against a real
S3-compatible server, versitygw, or the bucket named by ``PHOTOCHANGER_TEST_S3_URL``) must
behave the same. Each test gets an empty store: a fresh directory, or a fresh S3 prefix."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore.exceptions
import pytest
from photochanger_devstack.s3 import S3Server
from photochanger_runtime.media import (
    FilesystemMediaStore,
    InvalidKey,
    MediaNotFound,
    MediaStore,
    MediaTooLarge,
    MediaUnavailable,
    open_media_store,
)
from photochanger_runtime.media.s3 import S3MediaStore

from tests.support.waiting import eventually

KB = 1000
MB = 1000 * KB
PAYLOAD = "payloads/2026113014/job-1"
RESULT = "results/2026113014/job-1"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _stream(data: bytes, chunk: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


async def _keys(store: MediaStore, prefix: str) -> list[str]:
    return sorted([info.key async for info in store.list(prefix)])


async def _folders(store: MediaStore, prefix: str) -> list[str]:
    return [folder async for folder in store.folders(prefix)]


class _CountingStream:
    """Chunks of a payload, counting how many the store pulled; `before_last`, if given, is
    awaited before the last chunk is handed over."""

    def __init__(
        self,
        chunks: int,
        size: int,
        before_last: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.chunks = [os.urandom(size) for _ in range(chunks)]
        self.pulled = 0
        self._before_last = before_last

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == len(self.chunks) - 1 and self._before_last is not None:
                await self._before_last()
            self.pulled += 1
            yield chunk


async def _cleanup(server: S3Server, prefix: str) -> None:
    """Remove what a test left under its prefix (matters for a bucket from the env)."""
    parent = S3MediaStore.from_url(server.media_url("contract"), env=server.aws_env)
    async for info in parent.list(f"{prefix}/"):
        await parent.delete(info.key)


_Cleanup = Callable[[], Awaitable[None]] | None


@pytest.fixture(
    params=[
        pytest.param("filesystem", marks=pytest.mark.unit),
        pytest.param("s3", marks=pytest.mark.integration),
    ]
)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[MediaStore, _Cleanup]]:
    """The store (sync: the session's S3 server is started outside the event loop)."""
    if request.param == "filesystem":
        yield FilesystemMediaStore(tmp_path / "media"), None
        return
    server: S3Server = request.getfixturevalue("s3_server")
    prefix = uuid.uuid4().hex
    store = S3MediaStore.from_url(server.media_url(f"contract/{prefix}"), env=server.aws_env)
    yield store, lambda: _cleanup(server, prefix)


@pytest.fixture
async def store(backend: tuple[MediaStore, _Cleanup]) -> AsyncIterator[MediaStore]:
    value, cleanup = backend
    yield value
    await value.aclose()
    if cleanup is not None:
        await cleanup()


# --- put and read -----------------------------------------------------------------------------


async def test_put_bytes_round_trip(store: MediaStore) -> None:
    data = os.urandom(628 * KB)
    stored = await store.put(PAYLOAD, data, content_type="image/jpeg")
    assert (stored.key, stored.size_bytes, stored.sha256) == (PAYLOAD, len(data), _sha(data))
    assert await store.read(PAYLOAD) == data
    reader = await store.open(PAYLOAD)
    assert reader.size_bytes == len(data)
    assert b"".join([chunk async for chunk in reader.chunks()]) == data


async def test_put_stream_round_trip(store: MediaStore) -> None:
    data = os.urandom(700 * KB + 17)
    stored = await store.put(PAYLOAD, _stream(data, 64 * 1024), content_type="image/png")
    assert (stored.size_bytes, stored.sha256) == (len(data), _sha(data))
    assert await store.read(PAYLOAD) == data


async def test_put_empty_object(store: MediaStore) -> None:
    stored = await store.put(PAYLOAD, _stream(b"", 1), content_type="image/jpeg")
    assert (stored.size_bytes, stored.sha256) == (0, _sha(b""))
    assert await store.read(PAYLOAD) == b""
    assert (await store.open(PAYLOAD)).size_bytes == 0


async def test_put_replaces_an_existing_object(store: MediaStore) -> None:
    await store.put(RESULT, os.urandom(300 * KB), content_type="image/png")
    newer = os.urandom(100 * KB)
    stored = await store.put(RESULT, _stream(newer, 10 * KB), content_type="image/png")
    assert stored.sha256 == _sha(newer)
    assert await store.read(RESULT) == newer
    info = await store.stat(RESULT)
    assert info is not None and info.size_bytes == len(newer)
    assert await _keys(store, "results/") == [RESULT]


async def test_five_megabyte_object_streams_in_chunks(store: MediaStore) -> None:
    data = os.urandom(5 * MB)
    stored = await store.put(RESULT, _stream(data, 64 * 1024), content_type="image/png")
    assert (stored.size_bytes, stored.sha256) == (len(data), _sha(data))
    reader = await store.open(RESULT)
    assert reader.size_bytes == len(data)  # known before the first byte is read
    digest, chunks, total = hashlib.sha256(), 0, 0
    async for chunk in reader.chunks():
        digest.update(chunk)
        chunks += 1
        total += len(chunk)
    assert (total, digest.hexdigest()) == (len(data), _sha(data))
    assert chunks > 1, "a 5 MB object must arrive in several chunks, not as one buffer"


# --- size limit -------------------------------------------------------------------------------


async def test_max_bytes_cuts_a_stream_and_stores_nothing(store: MediaStore) -> None:
    source = _CountingStream(chunks=10, size=100 * KB)
    with pytest.raises(MediaTooLarge) as raised:
        await store.put(PAYLOAD, source, content_type="image/jpeg", max_bytes=350 * KB)
    assert raised.value.max_bytes == 350 * KB
    assert source.pulled <= 4, "the store must stop reading once the limit is passed"
    assert await store.stat(PAYLOAD) is None
    with pytest.raises(MediaNotFound):
        await store.read(PAYLOAD)
    assert await _keys(store, "payloads/") == []  # no temporary file or object either


async def test_max_bytes_failure_keeps_the_previous_object(store: MediaStore) -> None:
    before = os.urandom(200 * KB)
    await store.put(PAYLOAD, before, content_type="image/jpeg")
    with pytest.raises(MediaTooLarge):
        await store.put(
            PAYLOAD, _stream(os.urandom(600 * KB), 50 * KB), content_type="image/jpeg",
            max_bytes=500 * KB,
        )  # fmt: skip
    assert await store.read(PAYLOAD) == before
    assert await _keys(store, "payloads/") == [PAYLOAD]


async def test_max_bytes_on_bytes_and_at_the_limit(store: MediaStore) -> None:
    data = os.urandom(300 * KB)
    with pytest.raises(MediaTooLarge):
        await store.put(PAYLOAD, data, content_type="image/jpeg", max_bytes=len(data) - 1)
    assert await store.stat(PAYLOAD) is None
    exact = await store.put(PAYLOAD, _stream(data, 7000), content_type="image/jpeg",
                            max_bytes=len(data))  # fmt: skip
    assert exact.size_bytes == len(data)
    assert await store.read(PAYLOAD) == data


# --- missing objects, stat, delete ------------------------------------------------------------


async def test_missing_object(store: MediaStore) -> None:
    with pytest.raises(MediaNotFound):
        await store.open(RESULT)  # raised by open itself, before any chunk is read
    with pytest.raises(MediaNotFound):
        await store.read(RESULT)
    assert await store.stat(RESULT) is None


async def test_stat(store: MediaStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    await store.put(RESULT, os.urandom(1234), content_type="image/png")
    info = await store.stat(RESULT)
    assert info is not None
    assert (info.key, info.size_bytes) == (RESULT, 1234)
    assert info.last_modified.tzinfo is not None
    assert before <= info.last_modified <= datetime.now(UTC) + timedelta(seconds=5)


async def test_delete_is_idempotent(store: MediaStore) -> None:
    await store.put(RESULT, b"result", content_type="image/png")
    assert await store.delete(RESULT) is True
    assert await store.delete(RESULT) is False
    assert await store.stat(RESULT) is None
    with pytest.raises(MediaNotFound):
        await store.open(RESULT)


async def test_reader_closed_before_reading(store: MediaStore) -> None:
    await store.put(RESULT, os.urandom(1 * MB), content_type="image/png")
    reader = await store.open(RESULT)
    await reader.aclose()
    assert await store.delete(RESULT) is True


# --- list and folders -------------------------------------------------------------------------

_LAYOUT = {
    "payloads/2026113014/job-1": 10,
    "payloads/2026113014/job-2": 20,
    "payloads/2026113015/job-3": 30,
    "results/2026113014/job-1": 40,
    "templates/tpl-1": 50,
    "templates/deep/er/tpl-2": 60,
}


async def _put_layout(store: MediaStore) -> None:
    for key, size in _LAYOUT.items():
        await store.put(key, os.urandom(size), content_type="image/png")


async def test_list_by_prefix_at_any_depth(store: MediaStore) -> None:
    await _put_layout(store)
    payloads = sorted(k for k in _LAYOUT if k.startswith("payloads/"))
    assert await _keys(store, "payloads/") == payloads
    assert await _keys(store, "payloads") == payloads  # the slash is optional
    assert await _keys(store, "payloads/2026113014/") == payloads[:2]
    assert await _keys(store, "templates/") == ["templates/deep/er/tpl-2", "templates/tpl-1"]
    assert await _keys(store, "pay") == []  # folders, not string prefixes
    assert await _keys(store, "missing/") == []
    sizes = {info.key: info.size_bytes async for info in store.list("results/")}
    assert sizes == {"results/2026113014/job-1": 40}


async def test_list_returns_every_object_across_pages(store: MediaStore) -> None:
    count = 1005  # more than one page of S3's ListObjectsV2 (1000 keys)
    keys = [f"payloads/2026113014/job-{n:04d}" for n in range(count)]
    for start in range(0, count, 50):
        await asyncio.gather(
            *(store.put(key, b"x", content_type="image/jpeg") for key in keys[start : start + 50])
        )
    assert await _keys(store, "payloads/") == keys


async def test_folders_one_level_down(store: MediaStore) -> None:
    await _put_layout(store)
    assert await _folders(store, "payloads/") == ["payloads/2026113014/", "payloads/2026113015/"]
    assert await _folders(store, "payloads") == ["payloads/2026113014/", "payloads/2026113015/"]
    assert await _folders(store, "templates/") == ["templates/deep/"]
    assert await _folders(store, "templates/deep/") == ["templates/deep/er/"]
    assert await _folders(store, "missing/") == []


async def test_delete_folder_removes_its_objects_and_the_folder(store: MediaStore) -> None:
    await _put_layout(store)
    assert await store.delete_folder("payloads/2026113014/") == 2
    assert await _folders(store, "payloads/") == ["payloads/2026113015/"]
    assert await _keys(store, "payloads/") == ["payloads/2026113015/job-3"]
    assert await store.delete_folder("templates") == 2  # at any depth; the slash is optional
    assert await _folders(store, "templates/") == []
    assert await store.delete_folder("missing/") == 0
    assert await _keys(store, "results/") == ["results/2026113014/job-1"]  # others untouched


async def test_a_folder_emptied_by_deletes_can_be_written_and_deleted(store: MediaStore) -> None:
    await store.put(PAYLOAD, b"x", content_type="image/jpeg")
    assert await store.delete(PAYLOAD) is True
    assert await _keys(store, "payloads/") == []
    await store.put(PAYLOAD, b"y", content_type="image/jpeg")  # the bucket is in use again
    assert await store.read(PAYLOAD) == b"y"
    assert await store.delete_folder("payloads/2026113014/") == 1
    assert await _folders(store, "payloads/") == []


# --- keys -------------------------------------------------------------------------------------

_BAD_KEYS = ["", "/abs/key", "a//b", "a/../b", "../up", "a/./b", "sp ace", "a/b/", "ünï", "a\\b"]


@pytest.mark.parametrize("key", _BAD_KEYS)
async def test_invalid_keys_are_rejected(store: MediaStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, b"x", content_type="image/png")
    with pytest.raises(InvalidKey):
        await store.put(key, _stream(b"x", 1), content_type="image/png")
    with pytest.raises(InvalidKey):
        await store.open(key)
    with pytest.raises(InvalidKey):
        await store.read(key)
    with pytest.raises(InvalidKey):
        await store.stat(key)
    with pytest.raises(InvalidKey):
        await store.delete(key)


@pytest.mark.parametrize("prefix", ["", "/", "/abs/", "../", "a/../b/", "a//b/"])
async def test_invalid_prefixes_are_rejected(store: MediaStore, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        await _keys(store, prefix)
    with pytest.raises(InvalidKey):
        await _folders(store, prefix)


# --- concurrency and health -------------------------------------------------------------------


async def test_concurrent_puts_of_one_key_leave_one_whole_object(store: MediaStore) -> None:
    payloads = [os.urandom(1 * MB) for _ in range(6)]

    async def interleaved(data: bytes) -> AsyncIterator[bytes]:
        async for chunk in _stream(data, 64 * 1024):
            await asyncio.sleep(0)  # let the other writers run between chunks
            yield chunk

    stored = await asyncio.gather(
        *(store.put(RESULT, interleaved(p), content_type="image/png") for p in payloads)
    )
    assert [s.sha256 for s in stored] == [_sha(p) for p in payloads]
    assert await store.read(RESULT) in payloads
    assert await _keys(store, "results/") == [RESULT]


async def test_ping(store: MediaStore) -> None:
    await store.ping()


# --- S3 only: configuration, multipart uploads, failures ---------------------------------------


@pytest.mark.unit
def test_s3_store_from_url() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_S3": "http://localhost:10",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    store = S3MediaStore.from_url("s3://media/photo/changer/", env=env)
    assert (store.bucket, store.prefix) == ("media", "photo/changer")
    assert isinstance(S3MediaStore.from_url("s3://media", env={}), S3MediaStore)
    with pytest.raises(ValueError, match="plain http"):
        S3MediaStore.from_url("s3://media", env={"AWS_ENDPOINT_URL": "http://minio.svc:9000"})
    allowed = {"AWS_ENDPOINT_URL": "http://minio.svc:9000", "AWS_ALLOW_HTTP": "true"}
    assert S3MediaStore.from_url("s3://media", env=allowed).bucket == "media"
    for bad in ("s3://", "s3:///prefix", "s3://media/../x", "s3://media/p?x=1"):
        with pytest.raises(ValueError):
            S3MediaStore.from_url(bad, env={})


@pytest.mark.unit
def test_open_media_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_media_store(f"file://{tmp_path}"), FilesystemMediaStore)
    assert isinstance(open_media_store("s3://media/prefix"), S3MediaStore)
    with pytest.raises(ValueError, match="unsupported"):
        open_media_store("gs://media")


@pytest.mark.integration
async def test_s3_multipart_put_and_abort(s3_server: S3Server) -> None:
    """Streams past the threshold go up in parts; passing max_bytes aborts the upload."""
    prefix = uuid.uuid4().hex
    store = S3MediaStore(
        s3_server.bucket,
        "/".join(p for p in (s3_server.prefix, "contract", prefix) if p),
        endpoint=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        multipart_threshold=5 * 1024 * 1024,
    )
    try:
        data = os.urandom(12 * 1024 * 1024 + 5)
        stored = await store.put(RESULT, _stream(data, 1024 * 1024), content_type="image/png")
        assert (stored.size_bytes, stored.sha256) == (len(data), _sha(data))
        assert await store.read(RESULT) == data

        uploads = (
            None
            if s3_server.data_dir is None
            else s3_server.data_dir / s3_server.bucket / ".sgwtmp" / "multipart"
        )

        def stored_parts() -> list[Path]:
            assert uploads is not None
            return [p for p in uploads.rglob("*") if p.is_file()]

        async def parts_landed() -> None:
            # A part still in flight when an upload is aborted may land after the abort (S3
            # documents this; a bucket lifecycle rule removes such leftovers): wait until both
            # full parts are stored, so what is left afterwards is ours to clean up.
            async def both() -> bool:
                return sorted(p.stat().st_size for p in stored_parts()) == [5 * 1024 * 1024] * 2

            await eventually(both, timeout=10, what="the first two parts to be stored")

        source = _CountingStream(
            chunks=12, size=1024 * 1024, before_last=None if uploads is None else parts_landed
        )
        with pytest.raises(MediaTooLarge):
            await store.put(RESULT, source, content_type="image/png", max_bytes=11 * 1024 * 1024)
        assert source.pulled == 12  # the part uploads had begun when the limit was passed
        assert await store.read(RESULT) == data  # the earlier object is untouched
        assert await _keys(store, "results/") == [RESULT]
        if uploads is not None:  # our versitygw: no upload left half-done

            async def aborted() -> bool:  # the abort request may still be on its way
                return not stored_parts()

            await eventually(aborted, timeout=10, what="the multipart upload to be aborted")
    finally:
        await _cleanup(s3_server, prefix)


@pytest.mark.integration
async def test_s3_ping_fails_for_a_missing_bucket_or_wrong_credentials(
    s3_server: S3Server,
) -> None:
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    missing = S3MediaStore.from_url(f"s3://{bucket}", env=s3_server.aws_env)
    with pytest.raises(MediaUnavailable):
        await missing.ping()
    wrong = S3MediaStore.from_url(
        s3_server.media_url(), env={**s3_server.aws_env, "AWS_SECRET_ACCESS_KEY": "wrong"}
    )
    with pytest.raises(MediaUnavailable) as refused:
        await wrong.put(PAYLOAD, b"x", content_type="image/jpeg")
    assert isinstance(refused.value.__cause__, obstore.exceptions.PermissionDeniedError)
    with pytest.raises(MediaUnavailable):
        await wrong.ping()


@pytest.mark.unit
def test_filesystem_writers_and_deleters_of_one_bucket_never_collide(tmp_path: Path) -> None:
    """Other processes on the host (threads here) write and delete jobs of the same bucket
    at once: every write succeeds, and the bucket's folder stays until the expiry sweep."""
    import threading

    root = tmp_path / "media"
    failures: list[BaseException] = []

    def churn(n: int) -> None:
        store = FilesystemMediaStore(root)

        async def run() -> None:
            for i in range(300):
                key = f"payloads/202611301400/job-{n}-{i}"
                await store.put(key, b"x" * 10, content_type="image/jpeg")
                await store.delete(key)

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported below, with the thread's own traceback
            failures.append(exc)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    bucket = root / "payloads" / "202611301400"
    assert bucket.is_dir() and not any(bucket.iterdir())
    assert asyncio.run(FilesystemMediaStore(root).delete_folder("payloads/202611301400/")) == 0
    assert not bucket.exists()
