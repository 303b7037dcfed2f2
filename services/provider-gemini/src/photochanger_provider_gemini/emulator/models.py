"""The image models the Gemini emulator knows, and what each one accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from photochanger_emulators.imaging import Look

IMAGE_SIZES: dict[str, int] = {"1K": 1024, "2K": 2048, "4K": 4096}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    display_name: str
    accepts_image_size: bool
    look: Look

    def as_json(self) -> dict[str, Any]:
        """The model resource as ``GET /v1beta/models/{model}`` answers it."""
        return {
            "name": f"models/{self.name}",
            "version": "2.0",
            "displayName": self.display_name,
            "inputTokenLimit": 32768,
            "outputTokenLimit": 32768,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="gemini-2.5-flash-image",
            display_name="Nano Banana (emulated)",
            accepts_image_size=False,
            look=Look(effect="invert", color=(255, 140, 0), label="gemini-2.5-flash-image"),
        ),
        ModelSpec(
            name="gemini-3-pro-image-preview",
            display_name="Nano Banana Pro (emulated)",
            accepts_image_size=True,
            look=Look(effect="invert", color=(200, 0, 200), label="gemini-3-pro-image-preview"),
        ),
    )
}
