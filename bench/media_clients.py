"""Which S3 client for the media store: obstore or aiobotocore, measured (ADR-0010).

Starts a local versitygw (the same server the tests use), then, for each client in its own
process (so import time and RSS belong to that client alone): puts and gets of a 5 MB and of a
628 KB photo-sized object (random bytes, incompressible like a JPEG), N calls each after a
warm-up, wall time and process CPU time per call (median, p95); import time; RSS after the
import and at the end. Also obstore's LocalStore against our FilesystemMediaStore for 628 KB.

    uv run --with aiobotocore python -m bench.media_clients [--calls 50]

Prints a Markdown table; the numbers in ADR-0010 come from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

SIZES = {"5 MB": 5 * 1000 * 1000, "628 KB": 628 * 1000}
WARMUP = 5


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def _measure(call: Callable[[], Awaitable[Any]], calls: int) -> dict[str, float]:
    for _ in range(WARMUP):
        await call()
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(calls):
        wall, cpu = time.perf_counter(), time.process_time()
        await call()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return {
        "wall_p50_ms": statistics.median(walls),
        "wall_p95_ms": _p95(walls),
        "cpu_p50_ms": statistics.median(cpus),
        "cpu_p95_ms": _p95(cpus),
    }


PutCall = Callable[[str, bytes], Awaitable[Any]]
#: reads the object at the key to the end, answering how many bytes came
ReadCall = Callable[[str], Awaitable[int]]


async def _puts_and_gets(put: PutCall, read: ReadCall, prefix: str, calls: int) -> dict[str, Any]:
    """A put and a get of each size in SIZES, measured `calls` times each."""
    results: dict[str, Any] = {}
    for label, size in SIZES.items():
        data = os.urandom(size)
        key = f"{prefix}/{size}"

        async def put_once(key: str = key, data: bytes = data) -> None:
            await put(key, data)

        async def get_once(key: str = key, size: int = size) -> None:
            assert await read(key) == size

        results[f"put {label}"] = await _measure(put_once, calls)
        results[f"get {label}"] = await _measure(get_once, calls)
    return results


def _client_report(import_s: float, rss_import: float, results: dict[str, Any]) -> dict[str, Any]:
    return {
        "import_s": import_s,
        "rss_import_mb": rss_import,
        "rss_end_mb": _rss_mb(),
        "peak_mb": _peak_rss_mb(),
        "calls": results,
    }


async def _obstore_s3(conf: dict[str, str], calls: int) -> dict[str, Any]:
    started = time.perf_counter()
    import obstore
    from obstore.store import S3Store

    import_s = time.perf_counter() - started
    rss_import = _rss_mb()
    store = S3Store(
        conf["bucket"],
        endpoint=conf["endpoint"],
        region=conf["region"],
        access_key_id=conf["access_key"],
        secret_access_key=conf["secret_key"],
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )

    async def put(key: str, data: bytes) -> None:
        await obstore.put_async(
            store, key, data, attributes={"Content-Type": "image/jpeg"}, use_multipart=False
        )

    async def read(key: str) -> int:
        result = await obstore.get_async(store, key)
        return sum([len(chunk) async for chunk in result.stream(min_chunk_size=256 * 1024)])

    results = await _puts_and_gets(put, read, "bench/obstore", calls)
    return _client_report(import_s, rss_import, results)


async def _aiobotocore_s3(conf: dict[str, str], calls: int) -> dict[str, Any]:
    started = time.perf_counter()
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    import_s = time.perf_counter() - started
    rss_import = _rss_mb()
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=conf["endpoint"],
        region_name=conf["region"],
        aws_access_key_id=conf["access_key"],
        aws_secret_access_key=conf["secret_key"],
        config=AioConfig(s3={"addressing_style": "path"}),
    ) as client:

        async def put(key: str, data: bytes) -> None:
            await client.put_object(
                Bucket=conf["bucket"], Key=key, Body=data, ContentType="image/jpeg"
            )

        async def read(key: str) -> int:
            response = await client.get_object(Bucket=conf["bucket"], Key=key)
            async with response["Body"] as body:
                return sum([len(chunk) async for chunk in body.iter_chunks(256 * 1024)])

        results = await _puts_and_gets(put, read, "bench/aiobotocore", calls)
    return _client_report(import_s, rss_import, results)


async def _ours_s3(conf: dict[str, str], calls: int) -> dict[str, Any]:
    """Our S3MediaStore (obstore + sha256 of every put): what the services will pay."""
    started = time.perf_counter()
    from photochanger_runtime.media.s3 import S3MediaStore

    import_s = time.perf_counter() - started
    rss_import = _rss_mb()
    store = S3MediaStore(
        conf["bucket"],
        "bench-ours",
        endpoint=conf["endpoint"],
        region=conf["region"],
        access_key_id=conf["access_key"],
        secret_access_key=conf["secret_key"],
    )

    async def put(key: str, data: bytes) -> None:
        await store.put(key, data, content_type="image/jpeg")

    async def read(key: str) -> int:
        reader = await store.open(key)
        return sum([len(chunk) async for chunk in reader.chunks()])

    results = await _puts_and_gets(put, read, "results/2026113014", calls)
    return _client_report(import_s, rss_import, results)


async def _local(calls: int) -> dict[str, Any]:
    import obstore
    from obstore.store import LocalStore
    from photochanger_runtime.media import FilesystemMediaStore

    size = SIZES["628 KB"]
    data = os.urandom(size)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalStore(Path(tmp) / "obstore", mkdir=True)
        ours = FilesystemMediaStore(Path(tmp) / "ours")

        async def local_put() -> None:
            await obstore.put_async(local, "results/2026113014/job", data)

        async def local_get() -> None:
            result = await obstore.get_async(local, "results/2026113014/job")
            assert len(await result.bytes_async()) == size

        async def ours_put() -> None:
            await ours.put("results/2026113014/job", data, content_type="image/jpeg")

        async def ours_get() -> None:
            assert len(await ours.read("results/2026113014/job")) == size

        results["obstore LocalStore put 628 KB"] = await _measure(local_put, calls)
        results["obstore LocalStore get 628 KB"] = await _measure(local_get, calls)
        results["FilesystemMediaStore put 628 KB"] = await _measure(ours_put, calls)
        results["FilesystemMediaStore get 628 KB"] = await _measure(ours_get, calls)
    return {"calls": results}


_WORKERS: dict[str, Callable[[dict[str, str], int], Coroutine[Any, Any, dict[str, Any]]]] = {
    "obstore": _obstore_s3,
    "aiobotocore": _aiobotocore_s3,
    "S3MediaStore": _ours_s3,
    "local": lambda _conf, calls: _local(calls),
}


def _run_worker(name: str, conf: dict[str, str], calls: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.media_clients", "--worker", name, "--calls", str(calls)],
        input=json.dumps(conf),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| client | operation | wall p50 / p95 ms | CPU p50 / p95 ms |",
        "|---|---|---|---|",
    ]
    for client, result in results.items():
        for operation, m in result["calls"].items():
            lines.append(
                f"| {client} | {operation} | {m['wall_p50_ms']:.2f} / {m['wall_p95_ms']:.2f} "
                f"| {m['cpu_p50_ms']:.2f} / {m['cpu_p95_ms']:.2f} |"
            )
    lines += ["", "| client | import ms | RSS after import MB | RSS at end MB | peak MB |"]
    lines.append("|---|---|---|---|---|")
    for client, result in results.items():
        if "import_s" in result:
            lines.append(
                f"| {client} | {result['import_s'] * 1000:.0f} | {result['rss_import_mb']:.0f} "
                f"| {result['rss_end_mb']:.0f} | {result['peak_mb']:.0f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--worker", choices=sorted(_WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        conf = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(_WORKERS[args.worker](conf, args.calls))))
        return 0

    from photochanger_devstack.s3 import local_s3

    with local_s3(use_env=False) as server:
        conf = {
            "endpoint": server.endpoint_url,
            "region": server.region,
            "bucket": server.bucket,
            "access_key": server.access_key_id,
            "secret_key": server.secret_access_key,
        }
        print(f"versitygw at {server.endpoint_url}, {args.calls} calls each", file=sys.stderr)
        results = {name: _run_worker(name, conf, args.calls) for name in _WORKERS}
    print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
