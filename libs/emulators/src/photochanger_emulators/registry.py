"""Where the emulators are: entry points of the group `photochanger.emulators`, one per
provider package, each naming a factory `create_app(api_key: str) -> ASGI app`."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Final

from starlette.types import ASGIApp

EMULATOR_ENTRY_POINTS: Final = "photochanger.emulators"

EmulatorFactory = Callable[[str], ASGIApp]


def emulator_ids() -> tuple[str, ...]:
    """Provider ids of the installed emulators, sorted."""
    return tuple(sorted({point.name for point in entry_points(group=EMULATOR_ENTRY_POINTS)}))


def emulator_factory(provider_id: str) -> EmulatorFactory:
    """The factory of the provider's emulator; KeyError when no package declares one."""
    for point in entry_points(group=EMULATOR_ENTRY_POINTS, name=provider_id):
        factory: EmulatorFactory = point.load()
        return factory
    raise KeyError(f"no emulator is installed for provider {provider_id!r}")
