"""The slot settings of a Gemini slot: validated by the api, the dispatcher and the adapter,
and shown to admins as JSON schema (declared as the `gemini` entry point of
`photochanger.slot_settings`)."""

from __future__ import annotations

from typing import Final, Literal

from photochanger_contracts.slots import BaseSlotSettings
from pydantic import BaseModel, ConfigDict, model_validator

GEMINI_MODELS: Final = ("gemini-2.5-flash-image", "gemini-3-pro-image-preview")
GEMINI_MODELS_WITH_IMAGE_SIZE: Final = frozenset({"gemini-3-pro-image-preview"})
GEMINI_ASPECT_RATIOS: Final = (
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeminiOutput(_Strict):
    mime_type: Literal["image/png", "image/jpeg"] = "image/png"


class GeminiImageConfig(_Strict):
    aspect_ratio: (
        Literal["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"] | None
    ) = None
    image_size: Literal["1K", "2K", "4K"] | None = None


class GeminiSafetySetting(_Strict):
    category: str
    threshold: str


class GeminiSettings(BaseSlotSettings):
    model: Literal["gemini-2.5-flash-image", "gemini-3-pro-image-preview"] = (
        "gemini-2.5-flash-image"
    )
    output: GeminiOutput = GeminiOutput()
    image_config: GeminiImageConfig = GeminiImageConfig()
    safety_settings: tuple[GeminiSafetySetting, ...] = ()

    @model_validator(mode="after")
    def _image_size_needs_a_model_that_takes_it(self) -> GeminiSettings:
        if self.image_config.image_size and self.model not in GEMINI_MODELS_WITH_IMAGE_SIZE:
            raise ValueError(f"image_config.image_size is not accepted by model {self.model}")
        return self
