"""Pure pieces of the admin API: ETags, login throttling arithmetic, job cursors and
latency percentiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from photochanger_api.admin._versions import etag, expected_version
from photochanger_api.admin.job_queries import InvalidCursor, decode_cursor, encode_cursor
from photochanger_api.admin.login_throttle import ThrottleRule, seconds_until_allowed
from photochanger_api.admin.stats import percentile
from photochanger_api.errors import ApiError
from photochanger_runtime.configuration.template_media import referenced_media_ids

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("header", ['"7"', 'W/"7"', ' "7" ', "7"])
def test_if_match_names_the_current_version(header: str) -> None:
    assert expected_version(header, 7) == 7
    assert etag(7) == '"7"'


@pytest.mark.parametrize("header", ['"6"', '"8"', "*", '"v7"', "", '"-1"'])
def test_any_other_if_match_is_412_with_the_current_etag(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        expected_version(header, 7)
    assert caught.value.status_code == 412
    assert caught.value.headers == {"ETag": '"7"'}


def test_throttle_allows_until_the_limit_inside_the_window() -> None:
    rule = ThrottleRule(limit=3, window_seconds=60)
    recent = [NOW - timedelta(seconds=s) for s in (5, 10)]

    assert seconds_until_allowed(recent, rule, NOW) is None
    assert seconds_until_allowed([*recent, NOW - timedelta(seconds=61)], rule, NOW) is None


def test_throttle_locks_until_the_oldest_counted_failure_leaves_the_window() -> None:
    rule = ThrottleRule(limit=3, window_seconds=60)
    recent = [NOW - timedelta(seconds=s) for s in (1, 20, 40)]

    assert seconds_until_allowed(recent, rule, NOW) == pytest.approx(20)
    later = NOW + timedelta(seconds=21)
    assert seconds_until_allowed(recent, rule, later) is None


def test_cursor_round_trips_and_forgeries_are_refused() -> None:
    moment = datetime(2026, 11, 25, 12, 0, 1, 123000, tzinfo=UTC)

    assert decode_cursor(encode_cursor(moment, "job-1")) == (moment, "job-1")
    for forged in (
        "",
        "bm90IGpzb24",
        "eyJ0IjogIm5vdyJ9",
        "!!!",
        "eyJ0IjogIjIwMjYtMDEtMDEiLCAiaWQiOiAxfQ",
    ):
        with pytest.raises(InvalidCursor):
            decode_cursor(forged)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([7.0], 0.95) == 7
    assert percentile([], 0.5) is None


def test_template_references_include_the_fallbacks() -> None:
    settings = {
        "template_media": [{"role": "style", "media_id": "a"}],
        "fallback": {"settings": {"template_media": [{"role": "base", "media_id": "b"}]}},
    }

    assert list(referenced_media_ids(settings)) == ["a", "b"]
    assert list(referenced_media_ids({})) == []
