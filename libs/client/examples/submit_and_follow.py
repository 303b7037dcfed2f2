"""Submit a photo to a slot, follow the job to its end and save the result.

    uv run python libs/client/examples/submit_and_follow.py \
        --url http://127.0.0.1:8000 --key pck_… --slot slot-001 photo.jpg result.png

The key is made by an admin (console → Client keys, or POST /api/client-keys)."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path

from photochanger_client import Image, PhotoChanger


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--slot", default="slot-001")
    parser.add_argument("photo", type=Path)
    parser.add_argument("result", type=Path)
    args = parser.parse_args()

    async with PhotoChanger(args.url, args.key) as api:
        # the same idempotency key on a retry never starts a second job
        submitted = await api.submit(
            args.slot, args.photo.read_bytes(), filename=args.photo.name,
            idempotency_key=str(uuid.uuid4()), wait_seconds=20,
        )  # fmt: skip
        if isinstance(submitted, Image):  # done within 20 s: the image came at once
            args.result.write_bytes(submitted.content)
            print(f"job {submitted.job_id}: succeeded")
            return 0
        job = await api.wait(submitted.id)
        print(f"job {job.id}: {job.status}")
        if job.status != "succeeded":
            return 1
        args.result.write_bytes(await api.result(job.id))
        return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
