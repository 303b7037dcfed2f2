"""Finding 12: images are decoded with a pixel limit.

A 30 KB PNG declaring 13000 x 13000 pixels cost the provider emulator 0.5-0.7 GB to decode
(Pillow only warns below ~179 MP). Now the header is read first and anything past 50 MP is
refused before a pixel is decoded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.helpers import ingest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def png_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of `width` x `height` black pixels, built row by row (small in memory
    and on the wire: the rows compress to almost nothing)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_small_png_declaring_169_megapixels_is_refused_undecoded(
    stack: Stack, record_property: Any
) -> None:
    bomb = png_bomb(13000, 13000)
    assert len(bomb) < 1024 * 1024
    emulator = stack.processes["emulator-gemini"].pid
    before = _peak_mb(emulator)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120) as api:
        answer = await ingest(api, stack, "slot-001", bomb, filename="bomb.png",
                              content_type="image/png")  # fmt: skip
    growth = _peak_mb(emulator) - before
    record_property("emulator_peak_growth_mb", round(growth, 1))
    assert answer.status_code == 502, answer.text  # the provider refused the input
    assert growth < 100, f"the emulator's peak memory grew by {growth:.0f} MB"
