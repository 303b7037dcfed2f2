"""The Gemini emulator's counters (``/_emulator/stats``)."""

from __future__ import annotations

from typing import ClassVar

from photochanger_emulators.stats import ImageCallStats


class GeminiStats(ImageCallStats):
    provider: ClassVar[str] = "gemini"
