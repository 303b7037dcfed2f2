"""The console's pure parts: statistics buckets, the share-link rate limit, token digests and
which files the console serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from photochanger_api.admin.overview import bucket_seconds, series
from photochanger_api.admin.stats import counts_of, latency_of
from photochanger_api.console.routes import CSP, asset
from photochanger_api.shared_results import RequestRate, token_digest

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("minutes", "buckets", "width"),
    [(10, 10, 60), (1, 24, 3), (60, 24, 180), (60, 1, 3600), (1440, 24, 3600), (43200, 24, 108000),
     (90, 24, 240)],
)  # fmt: skip
def test_buckets_split_the_window_in_whole_steps(minutes: int, buckets: int, width: int) -> None:
    assert bucket_seconds(minutes, buckets) == width
    assert minutes * 60 / width <= buckets


def test_series_counts_each_final_job_once_in_its_bucket() -> None:
    rows = [
        (T0, "succeeded"),
        (T0 + timedelta(seconds=59), "timeout"),
        (T0 + timedelta(seconds=60), "succeeded"),
        (T0 + timedelta(minutes=10), "succeeded"),  # the window's end: past the last bucket
        (T0 - timedelta(seconds=1), "succeeded"),  # before the window
    ]

    points = series(rows, T0, T0 + timedelta(minutes=10), 60)

    assert len(points) == 10
    assert points[0].by_outcome == {
        "succeeded": 1, "timeout": 1, "provider_error": 0, "cancelled": 0,
    }  # fmt: skip
    assert points[1].start == T0 + timedelta(seconds=60)
    assert points[1].by_outcome["succeeded"] == 1
    assert sum(sum(p.by_outcome.values()) for p in points) == 3


def test_counts_split_final_and_live_jobs_and_rate_only_final_ones() -> None:
    made = counts_of(
        [("finalized", "succeeded", 3), ("finalized", "provider_error", 1), ("pending", None, 2)],
        latency_of([100.0, 300.0, 200.0], truncated=False),
    )

    assert (made.total, made.finalized, made.in_flight) == (6, 4, 2)
    assert made.success_rate == 0.75
    assert (made.latency.p50_ms, made.latency.p95_ms) == (200.0, 300.0)
    assert counts_of([], latency_of([], truncated=False)).success_rate is None


def test_request_rate_allows_the_limit_per_key_per_window() -> None:
    rate = RequestRate(limit=3, window=60)

    assert [rate.retry_after("a", now=t) for t in (0, 1, 2)] == [None, None, None]
    assert rate.retry_after("a", now=3) == pytest.approx(57)
    assert rate.retry_after("b", now=3) is None  # another client
    assert rate.retry_after("a", now=60.5) is None  # the first request left the window


def test_request_rate_forgets_idle_clients_when_it_holds_many() -> None:
    rate = RequestRate(limit=1, window=10, max_keys=2)
    rate.retry_after("a", now=0)
    rate.retry_after("b", now=0)

    assert rate.retry_after("c", now=20) is None
    assert set(rate._seen) == {"c"}


def test_only_a_digest_of_a_token_is_kept() -> None:
    assert token_digest("abc") == token_digest("abc") != token_digest("abd")
    assert "abc" not in token_digest("abc") and len(token_digest("abc")) == 64


def test_the_console_serves_its_own_files_and_nothing_else() -> None:
    index = asset("index.html")
    assert index is not None and b'src="/admin/assets/app.js"' in index
    assert asset("app.js") is not None and asset("pages/slot.js") is not None
    for name in ("../routes.py", "pages/../app.js", "routes.py", "/etc/passwd", "a/b/c.js",
                 "APP.JS", "app.js.map"):  # fmt: skip
        assert asset(name) is None, name
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP


def test_no_console_file_refers_to_another_origin() -> None:
    from importlib import resources

    static = resources.files("photochanger_api.console").joinpath("static")
    names = [p for p in static.iterdir() if p.is_file()]
    names += [p for p in static.joinpath("pages").iterdir() if p.is_file()]
    for path in names:
        text = path.read_text()
        for needle in ("http://", "https://", "//cdn", "@import url"):
            if needle in text and not (needle == "http://" and "www.w3.org/2000/svg" in text):
                raise AssertionError(f"{path.name} refers to {needle}")
