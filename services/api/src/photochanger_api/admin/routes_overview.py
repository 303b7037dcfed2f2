"""GET /api/stats/overview: the platform, every slot, a time series and the latest failures
over any window from a minute to 30 days, in one request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from photochanger_runtime.clock import Clock
from photochanger_runtime.configuration.slots import SlotRepository
from pydantic import BaseModel, ConfigDict, Field

from ..dependencies import container, require
from ..live_config import LiveConfig
from .auth import Permission, Principal
from .overview import MAX_BUCKETS, MAX_WINDOW_MINUTES, Overview, StatsOverview
from .views import ADMIN_ERRORS, errors

# Registered before routes_stats: its `/api/stats/{slot_id}` would take "overview" otherwise.
router = APIRouter(prefix="/api/stats", tags=["admin: stats"])


class OverviewQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the window: the last `minutes` minutes
    minutes: int = Field(default=60, ge=1, le=MAX_WINDOW_MINUTES)
    #: time series points, at most
    buckets: int = Field(default=24, ge=1, le=MAX_BUCKETS)


@router.get("/overview", response_model=Overview, responses=errors(*ADMIN_ERRORS, 422))
async def stats_overview(
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.STATS_READ))],
    query: Annotated[OverviewQuery, Query()],
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
        minutes=query.minutes,
        buckets=query.buckets,
        deadline_seconds=platform.sync_response_seconds,
    )
