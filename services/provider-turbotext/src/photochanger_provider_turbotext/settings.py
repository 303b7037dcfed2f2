"""The slot settings of a Turbotext slot (the `turbotext` entry point of
`photochanger.slot_settings`)."""

from __future__ import annotations

from photochanger_contracts.slots import BaseSlotSettings
from pydantic import Field


class TurbotextSettings(BaseSlotSettings):
    strength: int = Field(default=40, ge=0, le=80)
    scale: float | None = Field(default=None, ge=0.1, le=20)
    seed: int | None = Field(default=None, ge=0)
    negative_prompt: str | None = Field(default=None, max_length=2000)
    original_language: str | None = Field(default=None, max_length=8)
    face_restore: bool | None = None
