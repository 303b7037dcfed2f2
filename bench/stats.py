"""Percentiles and summaries of latency samples (milliseconds)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict


class Summary(TypedDict):
    n: int
    min: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> Summary:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return Summary(
        n=len(values),
        min=r(min(values)) if values else None,
        p50=r(percentile(values, 50)),
        p95=r(percentile(values, 95)),
        p99=r(percentile(values, 99)),
        max=r(max(values)) if values else None,
        mean=r(sum(values) / len(values)) if values else None,
    )
