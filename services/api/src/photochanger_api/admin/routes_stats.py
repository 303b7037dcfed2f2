"""GET /api/stats/global and /api/stats/{slot_id}: jobs by outcome, success rate and latency
percentiles per time window, overall and per provider."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from photochanger_runtime.clock import Clock
from pydantic import BaseModel, ConfigDict

from photochanger_api.admin.stats import WINDOWS, JobStats, StatsWindow, WindowStats

from ..dependencies import container, require
from ..ingest import require_known_slot
from .auth import Permission, Principal
from .views import ADMIN_ERRORS, errors

router = APIRouter(prefix="/api/stats", tags=["admin: stats"])

ReadStats = Annotated[Principal, Depends(require(Permission.STATS_READ))]


class StatsView(BaseModel):
    model_config = ConfigDict(frozen=True)

    scope: str
    generated_at: datetime
    #: for a slot: when its statistics were last reset (jobs before it do not count)
    reset_at: datetime | None = None
    windows: list[WindowStats]


async def _windows(
    request: Request, window: StatsWindow | None, slot_id: str | None
) -> tuple[datetime, list[WindowStats]]:
    stats, clock = await container(request).aget(JobStats, Clock)
    now = clock.now()
    names = [window] if window else list(WINDOWS)
    return now, [await stats.window(name, now=now, slot_id=slot_id) for name in names]


@router.get("/global", response_model=StatsView, responses=errors(*ADMIN_ERRORS, 422))
async def global_stats(
    request: Request,
    _: ReadStats,
    window: Annotated[
        StatsWindow | None, Query(description="one window; all when left out")
    ] = None,
) -> StatsView:
    now, windows = await _windows(request, window, None)
    return StatsView(scope="global", generated_at=now, windows=windows)


@router.get("/{slot_id}", response_model=StatsView, responses=errors(*ADMIN_ERRORS, 404, 422))
async def slot_stats(
    slot_id: str,
    request: Request,
    _: ReadStats,
    window: Annotated[
        StatsWindow | None, Query(description="one window; all when left out")
    ] = None,
) -> StatsView:
    require_known_slot(slot_id)
    now, windows = await _windows(request, window, slot_id)
    stats = await container(request).aget(JobStats)
    return StatsView(
        scope=slot_id, generated_at=now, reset_at=await stats.reset_at(slot_id), windows=windows
    )
