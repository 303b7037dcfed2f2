"""Which processes the platform is: the three core services, one provider service per entry of
configs/providers.json (and, locally, its emulator). `make up`, the end-to-end tests, the
published contracts, the images and the deployment manifests all take the list from here, so a
provider added to the catalogue appears everywhere at once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

from photochanger_runtime.config import repository_root
from photochanger_runtime.providers.catalog import ProviderCatalog, ProviderConfig, load_catalog

#: the services every platform runs, and the port of their HTTP endpoint
CORE_PORTS: Final = {"api": 8000, "dispatcher": 8101, "ttl-reaper": 8104}


class TopologyError(ValueError):
    """configs/providers.json does not describe a runnable platform."""


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    port: int
    #: the provider it runs (provider services only)
    provider_id: str | None = None

    @property
    def module(self) -> str:
        return "photochanger_" + self.name.replace("-", "_")


@cache
def catalog() -> ProviderCatalog:
    """configs/providers.json as declared (no environment overrides)."""
    return load_catalog(repository_root() / "configs" / "providers.json", environ={})


def provider_ids() -> tuple[str, ...]:
    return catalog().ids()


def provider(provider_id: str) -> ProviderConfig:
    config = catalog().get(provider_id)
    if config is None:
        raise TopologyError(f"provider {provider_id!r} is not in configs/providers.json")
    return config


def services() -> tuple[Service, ...]:
    """Every service in start order: api, dispatcher, the providers, ttl-reaper."""
    found = [Service("api", CORE_PORTS["api"]), Service("dispatcher", CORE_PORTS["dispatcher"])]
    for provider_id in provider_ids():
        port = provider(provider_id).service_port
        if port is None:
            raise TopologyError(f"configs/providers.json: {provider_id} has no service_port")
        found.append(Service(f"provider-{provider_id}", port, provider_id))
    found.append(Service("ttl-reaper", CORE_PORTS["ttl-reaper"]))
    _unique_ports({s.name: s.port for s in found})
    return tuple(found)


def service_ports() -> dict[str, int]:
    return {s.name: s.port for s in services()}


def emulator_ports() -> dict[str, int]:
    """Provider id → the port its emulator listens on locally."""
    ports = {}
    for provider_id in provider_ids():
        port = provider(provider_id).emulator_port
        if port is None:
            raise TopologyError(f"configs/providers.json: {provider_id} has no emulator_port")
        ports[provider_id] = port
    _unique_ports({**service_ports(), **{f"emulator-{p}": n for p, n in ports.items()}})
    return ports


def _unique_ports(ports: dict[str, int]) -> None:
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise TopologyError(f"{name} and {seen[port]} both use port {port}")
        seen[port] = name
