"""The slot settings of an OpenAI slot (the `openai` entry point of
`photochanger.slot_settings`): the options of GPT Image's `images/edits` an admin may set."""

from __future__ import annotations

from typing import Final, Literal

from photochanger_contracts.slots import BaseSlotSettings
from pydantic import Field, model_validator

OPENAI_MODELS: Final = ("gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini")
#: models that take `input_fidelity` (gpt-image-1-mini refuses it)
MODELS_WITH_INPUT_FIDELITY: Final = frozenset({"gpt-image-1.5", "gpt-image-1"})
#: output formats that can be transparent
TRANSPARENT_FORMATS: Final = frozenset({"png", "webp"})


class OpenAISettings(BaseSlotSettings):
    model: Literal["gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini"] = "gpt-image-1.5"
    size: Literal["1024x1024", "1536x1024", "1024x1536", "auto"] = "1024x1024"
    quality: Literal["low", "medium", "high", "auto"] = "auto"
    output_format: Literal["png", "jpeg", "webp"] = "png"
    #: 0-100, jpeg and webp only
    output_compression: int | None = Field(default=None, ge=0, le=100)
    background: Literal["auto", "opaque", "transparent"] = "auto"
    #: how closely the result keeps the input images' features (faces); gpt-image-1(.5) only
    input_fidelity: Literal["low", "high"] | None = None
    moderation: Literal["auto", "low"] | None = None

    @model_validator(mode="after")
    def _options_the_model_and_format_take(self) -> OpenAISettings:
        if self.input_fidelity is not None and self.model not in MODELS_WITH_INPUT_FIDELITY:
            raise ValueError(f"input_fidelity is not accepted by model {self.model}")
        if self.background == "transparent" and self.output_format not in TRANSPARENT_FORMATS:
            raise ValueError("a transparent background needs output_format png or webp")
        if self.output_compression is not None and self.output_format == "png":
            raise ValueError("output_compression applies to jpeg and webp only")
        return self
