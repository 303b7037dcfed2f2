"""The Python client and its example against the running platform."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from photochanger_client import ApiError, Image, Job, PhotoChanger
from photochanger_devstack.stack import Stack

from tests.e2e.client_api import make_key
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
EXAMPLE = (
    Path(__file__).resolve().parents[2] / "libs" / "client" / "examples" / "submit_and_follow.py"
)


async def test_the_client_submits_follows_and_downloads(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack)
    async with PhotoChanger(stack.api_url, key["key"]) as client:
        job = await client.submit(
            "slot-001", png_photo(2801, emulate="slow=2"), idempotency_key="client-2801"
        )
        assert isinstance(job, Job) and not job.is_final
        final = await client.wait(job.id)
        assert final.status == "succeeded" and final.result is not None
        image = await client.result(job.id)
        assert len(image) == final.result.size_bytes
        fast = await client.submit("slot-001", jpeg_photo(2802), wait_seconds=30)
        assert isinstance(fast, Image) and fast.mime_type.startswith("image/")
        with pytest.raises(ApiError) as refused:
            await client.cancel(job.id)
        assert refused.value.status == 409 and refused.value.code == "job_already_final"


async def test_the_example_saves_the_result(
    api: httpx.AsyncClient, stack: Stack, tmp_path: Path
) -> None:
    key = await make_key(api, stack)
    photo, result = tmp_path / "photo.jpg", tmp_path / "result.png"
    photo.write_bytes(jpeg_photo(2803))
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(EXAMPLE), "--url", stack.api_url, "--key", key["key"],
         "--slot", "slot-001", str(photo), str(result)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout and result.stat().st_size > 0
