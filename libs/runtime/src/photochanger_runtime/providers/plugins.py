"""Where a provider's code is: entry points its package declares (Docs/adding-a-provider.md).

configs/providers.json says which providers the platform runs; the installed packages say how:
`photochanger.adapters` names each provider's adapter factory, `photochanger.slot_settings` its
slot settings model (read by `photochanger_contracts.slots`), `photochanger.emulators` its local
emulator and `photochanger.services` the process to run (every service declares one)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Final

import httpx
from photochanger_contracts import ProviderAdapter

from .catalog import ProviderConfig

ADAPTER_ENTRY_POINTS: Final = "photochanger.adapters"
SERVICE_ENTRY_POINTS: Final = "photochanger.services"

AdapterFactory = Callable[[ProviderConfig, httpx.AsyncClient], ProviderAdapter]


def adapter_factory(provider_id: str) -> AdapterFactory:
    """The provider's `build_adapter(config, http)`; KeyError when no package declares one."""
    for point in entry_points(group=ADAPTER_ENTRY_POINTS, name=provider_id):
        factory: AdapterFactory = point.load()
        return factory
    raise KeyError(f"no installed package declares an adapter for provider {provider_id!r}")


def service_entry(name: str) -> Callable[[], None]:
    """The `main()` of the service called `name` (api, dispatcher, provider-<id>, ...)."""
    for point in entry_points(group=SERVICE_ENTRY_POINTS, name=name):
        main: Callable[[], None] = point.load()
        return main
    raise KeyError(f"no installed package declares the service {name!r}")


def service_names() -> tuple[str, ...]:
    return tuple(sorted({point.name for point in entry_points(group=SERVICE_ENTRY_POINTS)}))
