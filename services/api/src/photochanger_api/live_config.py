"""The configuration new jobs are created with — platform settings and slot plans — read
from the database at most every `config_max_age_seconds` (one second by default), so a busy
api does not pay a database round trip per photo for documents that change a few times a
day. An edit through this process's admin API applies to the next job at once; edits made
elsewhere apply within the max age.

A slot plan is a slot with its settings validated for its provider and operation and its
template media resolved to media references, decided once for each recipe (provider,
operation, settings) a slot has."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from photochanger_contracts import (
    BaseSlotSettings,
    SlotSettingsError,
    TemplateBinding,
    validate_slot_settings,
)
from photochanger_contracts.slots import FieldProblem
from photochanger_runtime.configuration.platform_settings import (
    PlatformSettings,
    PlatformSettingsRepository,
    RecentPlatformSettings,
)
from photochanger_runtime.configuration.slots import Slot, SlotRepository
from photochanger_runtime.configuration.template_media import TemplateMediaCatalog
from photochanger_runtime.providers.catalog import ProviderCatalog

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SlotPlan:
    slot: Slot
    #: None when the slot's provider does not offer its operation
    settings: BaseSlotSettings | None
    problems: tuple[FieldProblem, ...]
    templates: tuple[TemplateBinding, ...]

    @property
    def runnable(self) -> bool:
        return self.settings is not None and not self.problems


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    read_at: float


class LiveConfig:
    def __init__(
        self,
        platform: PlatformSettingsRepository,
        slots: SlotRepository,
        templates: TemplateMediaCatalog,
        catalog: ProviderCatalog,
        *,
        max_age_seconds: float = 1.0,
    ) -> None:
        self._platform = RecentPlatformSettings(platform, max_age_seconds=max_age_seconds)
        self._slots = slots
        self._templates = templates
        self._catalog = catalog
        self._max_age = max_age_seconds
        self._plans: dict[str, _Entry[SlotPlan | None]] = {}
        self._lock = asyncio.Lock()

    def _fresh(self, entry: _Entry[T] | None) -> bool:
        return entry is not None and time.monotonic() - entry.read_at < self._max_age

    async def settings(self) -> PlatformSettings:
        return await self._platform.get()

    async def plan(self, slot_id: str) -> SlotPlan | None:
        """The slot's plan; None for a slot id that is not seeded."""
        entry = self._plans.get(slot_id)
        if entry is not None and self._fresh(entry):
            return entry.value
        slot = await self._slots.get(slot_id)
        previous = entry.value if entry is not None else None
        if slot is None:
            plan = None
        elif previous is not None and _same_recipe(previous.slot, slot):
            plan = SlotPlan(slot, previous.settings, previous.problems, previous.templates)
        else:
            plan = await self._make_plan(slot)
        self._plans[slot_id] = _Entry(plan, time.monotonic())
        return plan

    async def plan_for(self, slot: Slot) -> SlotPlan:
        """The plan of a slot that is not (or not yet) stored: a test run of unsaved values."""
        return await self._make_plan(slot)

    def forget(self, slot_id: str | None = None) -> None:
        """An admin edit in this process: the next job reads the database again."""
        if slot_id is None:
            self._platform.forget()
            self._plans.clear()
        else:
            self._plans.pop(slot_id, None)

    async def _make_plan(self, slot: Slot) -> SlotPlan:
        if not self._catalog.supports(slot.provider, slot.operation):
            problem = FieldProblem(
                field="operation",
                message=f"provider {slot.provider!r} does not offer {slot.operation.value}",
            )
            return SlotPlan(slot, None, (problem,), ())
        try:
            settings = validate_slot_settings(slot.provider, slot.operation, slot.settings)
        except SlotSettingsError as exc:
            return SlotPlan(slot, None, tuple(exc.problems), ())
        bindings: list[TemplateBinding] = []
        problems: list[FieldProblem] = []
        for binding in settings.template_media:
            template = await self._templates.get(binding.media_id)
            if template is not None:
                bindings.append(TemplateBinding(role=binding.role, media=template.ref))
            elif not binding.optional:
                problems.append(
                    FieldProblem(
                        field="template_media",
                        message=f"template media {binding.media_id!r} ({binding.role}) "
                        "does not exist",
                    )
                )
        return SlotPlan(slot, settings, tuple(problems), tuple(bindings))


def _same_recipe(before: Slot, after: Slot) -> bool:
    """Whether a slot still runs the same way (its validation and templates still hold)."""
    return (before.provider, before.operation, before.settings) == (
        after.provider, after.operation, after.settings,
    )  # fmt: skip
