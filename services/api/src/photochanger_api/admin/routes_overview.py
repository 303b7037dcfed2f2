"""GET /api/stats/overview: the platform, every slot, a time series and the latest failures
over any window from a minute to 30 days, in one request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from photochanger_runtime.clock import Clock
from photochanger_runtime.configuration.slots import SlotRepository

from ..dependencies import container, require
from ..live_config import LiveConfig
from .auth import Permission, Principal
from .overview import MAX_BUCKETS, MAX_WINDOW_MINUTES, Overview, StatsOverview
from .views import ADMIN_ERRORS, errors

# Registered before routes_stats: its `/api/stats/{slot_id}` would take "overview" otherwise.
router = APIRouter(prefix="/api/stats", tags=["admin: stats"])


@router.get("/overview", response_model=Overview, responses=errors(*ADMIN_ERRORS, 422))
async def stats_overview(
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.STATS_READ))],
    minutes: Annotated[
        int, Query(ge=1, le=MAX_WINDOW_MINUTES, description="the window: the last N minutes")
    ] = 60,
    buckets: Annotated[
        int, Query(ge=1, le=MAX_BUCKETS, description="time series points, at most")
    ] = 24,
) -> Overview:
    """Counts by outcome, success rate and latency for the platform and each slot (with its
    last success and last error, whenever they were), final jobs over time, and the 20
    newest failures of the window."""
    c = container(request)
    overview, slots, config, clock = await c.aget(StatsOverview, SlotRepository, LiveConfig, Clock)
    platform = await config.settings()
    return await overview.compute(
        list(await slots.list()),
        now=clock.now(),
        minutes=minutes,
        buckets=buckets,
        deadline_seconds=platform.sync_response_seconds,
    )
