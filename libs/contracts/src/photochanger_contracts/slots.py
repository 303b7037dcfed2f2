"""Slot settings, validated per provider and operation (no I/O).

The same models serve the dispatcher (is this slot runnable?), the admin API (422 with field
details, and the JSON schema shown to admins) and the provider adapters (typed settings).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .jobs import Operation

GEMINI_MODELS: Final = ("gemini-2.5-flash-image", "gemini-3-pro-image-preview")
GEMINI_MODELS_WITH_IMAGE_SIZE: Final = frozenset({"gemini-3-pro-image-preview"})
GEMINI_ASPECT_RATIOS: Final = (
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
)  # fmt: skip

#: template roles an operation cannot run without
REQUIRED_TEMPLATE_ROLES: Final[dict[Operation, tuple[str, ...]]] = {
    Operation.IMAGE_EDIT: (),
    Operation.STYLE_TRANSFER: ("style",),
    Operation.IDENTITY_TRANSFER: ("base",),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Strict):
    max_attempts: int = Field(default=2, ge=1, le=3)
    backoff_seconds: float = Field(default=1.0, ge=0, le=10)


class TemplateMediaBinding(_Strict):
    role: str = Field(min_length=1, max_length=32)
    media_id: str = Field(min_length=1)
    optional: bool = False


class FallbackTarget(_Strict):
    """Where a job goes when its provider fails with a retryable or quota error early enough:
    another provider/operation with its own settings, inside the same deadline."""

    provider: str
    operation: Operation
    settings: dict[str, Any] = Field(default_factory=dict)


class BaseSlotSettings(_Strict):
    prompt: str = Field(default="", max_length=4000)
    template_media: tuple[TemplateMediaBinding, ...] = ()
    retry_policy: RetryPolicy = RetryPolicy()
    fallback: FallbackTarget | None = None


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


class TurbotextSettings(BaseSlotSettings):
    strength: int = Field(default=40, ge=0, le=80)
    scale: float | None = Field(default=None, ge=0.1, le=20)
    seed: int | None = Field(default=None, ge=0)
    negative_prompt: str | None = Field(default=None, max_length=2000)
    original_language: str | None = Field(default=None, max_length=8)
    face_restore: bool | None = None


SETTINGS_MODELS: Final[dict[str, type[BaseSlotSettings]]] = {
    "gemini": GeminiSettings,
    "turbotext": TurbotextSettings,
}


class FieldProblem(_Strict):
    field: str
    message: str


class SlotSettingsError(ValueError):
    """Settings that do not fit the slot's provider and operation, with one entry per field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def validate_slot_settings(
    provider: str, operation: Operation, settings: dict[str, Any]
) -> BaseSlotSettings:
    """Typed settings for `provider`/`operation`, or SlotSettingsError listing every problem."""
    model = SETTINGS_MODELS.get(provider)
    if model is None:
        raise SlotSettingsError(
            [FieldProblem(field="provider", message=f"unknown provider {provider!r}")]
        )
    try:
        parsed = model.model_validate(settings)
    except ValidationError as exc:
        raise SlotSettingsError(
            [
                FieldProblem(
                    field=".".join(str(p) for p in err["loc"]) or "settings", message=err["msg"]
                )
                for err in exc.errors()
            ]
        ) from exc
    problems: list[FieldProblem] = []
    if operation in (Operation.IMAGE_EDIT, Operation.STYLE_TRANSFER) and not parsed.prompt.strip():
        problems.append(FieldProblem(field="prompt", message=f"{operation} needs a prompt"))
    roles = {b.role for b in parsed.template_media}
    problems.extend(
        FieldProblem(
            field="template_media", message=f"{operation} needs a template with role {r!r}"
        )
        for r in REQUIRED_TEMPLATE_ROLES[operation]
        if r not in roles
    )
    if parsed.fallback is not None:
        problems.extend(_fallback_problems(parsed.fallback))
    if problems:
        raise SlotSettingsError(problems)
    return parsed


def _fallback_problems(fallback: FallbackTarget) -> list[FieldProblem]:
    if "fallback" in fallback.settings:
        return [FieldProblem(field="fallback.settings.fallback", message="one fallback at most")]
    try:
        validate_slot_settings(fallback.provider, fallback.operation, fallback.settings)
    except SlotSettingsError as exc:
        return [
            FieldProblem(field=f"fallback.{'settings.' if p.field != 'provider' else ''}{p.field}",
                         message=p.message)
            for p in exc.problems
        ]  # fmt: skip
    return []


def settings_json_schema(provider: str) -> dict[str, Any]:
    return SETTINGS_MODELS[provider].model_json_schema()
