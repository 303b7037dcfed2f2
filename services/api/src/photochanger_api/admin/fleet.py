"""The provider fleet as the admin views report it: per provider, the running replicas of its
service and how many of them hold its API key (their heartbeats say so)."""

from __future__ import annotations

from fastapi import Request
from photochanger_runtime.clock import Clock
from photochanger_runtime.jobs import JobStore
from photochanger_runtime.providers.catalog import ProviderCatalog
from photochanger_runtime.providers.fleet import FleetKeys, fleet_keys

from ..dependencies import container


async def provider_fleet(request: Request, catalog: ProviderCatalog) -> dict[str, FleetKeys]:
    store, clock = await container(request).aget(JobStore, Clock)
    now = clock.now()
    return {p: fleet_keys(await store.workers(p), now) for p in catalog.ids()}
