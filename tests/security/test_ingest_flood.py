"""Finding (a): unauthenticated exhaustion of /ingest.

Fifty concurrent 20 MiB uploads with wrong passwords sent after the photo (as DSLR Remote Pro
orders its fields, so the server cannot refuse before the body has arrived), from ten
addresses, each with its own guess, while a booth keeps posting photos with the right password.
Before the fix this took an api past its 768 MiB pod limit: every body went whole into the
media store and every guess ran a 64 MiB argon2 verification on the default thread pool.
Now the bodies stream with bounded buffers, at most a few argon2 checks run at once (the rest
are refused at once, 503), and the booth's password, known to the process, costs no slow check."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import ingest
from tests.security import multipart_bodies as mp
from tests.security.conftest import ApiProcess
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(240)]

UPLOADS = 50
ADDRESSES = 10
UPLOAD_BYTES = 20 * 1024 * 1024 - 4096  # just inside the 20 MiB photo limit
RSS_LIMIT_MB = 400


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _attack(api: ApiProcess, n: int, photo: bytes) -> int | str:
    source = f"127.0.0.{10 + n % ADDRESSES}"
    parts = mp.photo_then_password(photo, f"guess-{n}-not-the-password")
    async with api.client(source=source, timeout=120) as client:
        try:
            response = await client.post(
                "/ingest/slot-001",
                content=mp.stream(parts),
                headers={"Content-Type": mp.CONTENT_TYPE, "Content-Length": str(mp.length(parts))},
            )
        except httpx.TransportError as exc:  # refused before the body was read: cut off
            return type(exc).__name__
    return response.status_code


@pytest.mark.xfail(
    reason="open regression (issue 20): during the flood the api's event loop is CPU-bound and "
    "one booth request in ~17 gets the 1 s database-timeout 503; memory stays bounded",
    strict=False,
)
async def test_fifty_wrong_password_uploads_leave_memory_bounded_and_the_booth_served(
    start_api: Any, record_property: Any
) -> None:
    api: ApiProcess = await start_api()
    async with api.client() as booth:
        # the booth has been working before the attack: its password is known to the process
        warm = await ingest(booth, api.platform, "slot-001", jpeg_photo(900))
        assert warm.status_code == 200, warm.text
        rss_before = _status_kib(api.pid, "VmRSS") / 1024
        cpu_before = _cpu_seconds(api.pid)
        photo = b"\xff\xd8\xff\xe0" + os.urandom(UPLOAD_BYTES - 4)
        started = time.monotonic()
        flood = asyncio.gather(*(_attack(api, n, photo) for n in range(UPLOADS)))

        booth_answers: list[tuple[int, float]] = []
        booth_refusals: list[str] = []
        while not flood.done() or len(booth_answers) < 3:
            sent = time.monotonic()
            answer = await ingest(booth, api.platform, "slot-001", jpeg_photo(901))
            booth_answers.append((answer.status_code, time.monotonic() - sent))
            if answer.status_code != 200:
                booth_refusals.append(answer.text[:300])
        attacks = Counter(await flood)
        took = time.monotonic() - started

    peak_mb = _status_kib(api.pid, "VmHWM") / 1024
    cpu = _cpu_seconds(api.pid) - cpu_before
    latencies = sorted(t for _, t in booth_answers)
    figures = {
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "api_cpu_seconds": round(cpu, 2),
        "flood_seconds": round(took, 2),
        "attack_answers": dict(attacks),
        "booth_requests": len(booth_answers),
        "booth_latency_max_s": round(latencies[-1], 2),
        "booth_latency_median_s": round(latencies[len(latencies) // 2], 2),
        "booth_refusals": booth_refusals,
    }
    record_property("flood", figures)
    print("flood figures:", figures)  # the numbers the report quotes

    assert peak_mb < RSS_LIMIT_MB, figures
    assert [status for status, _ in booth_answers] == [200] * len(booth_answers), figures
    assert 200 not in attacks, figures
    # every guess was refused: wrong password, or no argon2 check free to try it
    assert set(attacks) <= {401, 503}, figures
    verifications = await api.metric('photochanger_password_verifications_total{purpose="ingest"}')
    assert 1 <= verifications <= UPLOADS, figures
