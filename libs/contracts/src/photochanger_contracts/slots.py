"""Slot settings, validated per provider and operation (no I/O).

The same models serve the dispatcher (is this slot runnable?), the admin API (422 with field
details, and the JSON schema shown to admins) and the provider adapters (typed settings).
Each provider package declares its own model (a `BaseSlotSettings` subclass) as an entry point;
this module knows no provider by name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .jobs import Operation

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


#: a slot's fallback chain: its fallback, that one's fallback (in its settings), and so on
MAX_FALLBACKS = 3


class FallbackTarget(_Strict):
    """Where a job goes when its provider fails with a retryable or quota error, is out of
    the fleet's budget or has its breaker open, early enough: another provider/operation
    with its own settings, inside the same deadline. Its settings may name the next fallback:
    an ordered chain of up to `MAX_FALLBACKS`."""

    provider: str
    operation: Operation
    settings: dict[str, Any] = Field(default_factory=dict)


class BaseSlotSettings(_Strict):
    prompt: str = Field(default="", max_length=4000)
    template_media: tuple[TemplateMediaBinding, ...] = ()
    retry_policy: RetryPolicy = RetryPolicy()
    fallback: FallbackTarget | None = None


#: the entry point group where each provider package declares its slot settings model:
#: `[project.entry-points."photochanger.slot_settings"] <provider id> = "module:Model"`
SETTINGS_ENTRY_POINTS: Final = "photochanger.slot_settings"


class _SettingsModels(Mapping[str, type[BaseSlotSettings]]):
    """Slot settings models by provider id, as the installed provider packages declare them.

    Loaded on first use, not at import: a provider's model module imports this one."""

    def __init__(self) -> None:
        self._models: dict[str, type[BaseSlotSettings]] | None = None

    def _loaded(self) -> dict[str, type[BaseSlotSettings]]:
        if self._models is None:
            models: dict[str, type[BaseSlotSettings]] = {}
            for point in entry_points(group=SETTINGS_ENTRY_POINTS):
                model = point.load()
                if not (isinstance(model, type) and issubclass(model, BaseSlotSettings)):
                    raise TypeError(f"{point.value} is not a BaseSlotSettings subclass")
                models[point.name] = model
            self._models = models
        return self._models

    def __getitem__(self, provider: str) -> type[BaseSlotSettings]:
        return self._loaded()[provider]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


SETTINGS_MODELS: Final[Mapping[str, type[BaseSlotSettings]]] = _SettingsModels()


class FieldProblem(_Strict):
    field: str
    message: str
    # the kind of problem and its limits (pydantic's error type and context), so a client can
    # say it in its own language; None for problems only the message describes
    type: str | None = None
    ctx: dict[str, int | float | str] | None = None

    def as_dict(self, field: str | None = None) -> dict[str, Any]:
        """The problem as an API answer lists it."""
        out: dict[str, Any] = {
            "field": self.field if field is None else field,
            "message": self.message,
        }
        if self.type:
            out["type"] = self.type
        if self.ctx:
            out["ctx"] = self.ctx
        return out


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
                    field=".".join(str(p) for p in err["loc"]) or "settings",
                    message=err["msg"],
                    type=err["type"],
                    ctx={
                        k: v
                        for k, v in (err.get("ctx") or {}).items()
                        if isinstance(v, (int, float, str))
                    }
                    or None,
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


def _settings_prefix(field: str) -> str:
    return "" if field == "provider" else "settings."


def _fallback_problems(fallback: FallbackTarget) -> list[FieldProblem]:
    depth, nested = 1, fallback.settings.get("fallback")
    while isinstance(nested, dict):
        depth += 1
        settings = nested.get("settings")
        nested = settings.get("fallback") if isinstance(settings, dict) else None
    if depth > MAX_FALLBACKS:
        return [FieldProblem(field="fallback", message=f"{MAX_FALLBACKS} fallbacks at most")]
    try:
        validate_slot_settings(fallback.provider, fallback.operation, fallback.settings)
    except SlotSettingsError as exc:
        return [
            p.model_copy(update={"field": "fallback." + _settings_prefix(p.field) + p.field})
            for p in exc.problems
        ]
    return []


def settings_json_schema(provider: str) -> dict[str, Any]:
    return SETTINGS_MODELS[provider].model_json_schema()
