"""How `make up` shows log lines."""

from __future__ import annotations

import json

from photochanger_devstack import logview

LINE = json.dumps(
    {
        "ts": "2026-11-30T14:02:36.942+00:00", "level": "warning", "service": "api",
        "logger": "photochanger_api.ingest", "msg": "client hash does not match",
        "job_id": "3f6c", "trace_id": "0123456789abcdef0123456789abcdef", "span_id": "ab",
    }
)  # fmt: skip


def test_json_lines_become_one_readable_line_on_a_terminal() -> None:
    shown = logview.render(LINE, pretty=True, colour=False)
    assert shown == "14:02:36.942 WARN client hash does not match  job_id=3f6c trace_id=01234567"


def test_raw_lines_are_kept_when_asked_or_not_on_a_terminal() -> None:
    assert logview.render(LINE, pretty=False, colour=False) == LINE
    assert logview.pretty_by_default(True, {"PHOTOCHANGER_LOG_FORMAT": "json"}) is False
    assert logview.pretty_by_default(False, {}) is False
    assert logview.pretty_by_default(True, {}) is True


def test_kafka_client_chatter_is_hidden_unless_verbose() -> None:
    chatter = json.dumps({"msg": "Marking the coordinator dead (node 1) for group dispatcher."})
    assert logview.render(chatter, pretty=True, colour=False) is None
    assert logview.render(chatter, pretty=True, colour=False, verbose=True) is not None


def test_lines_that_are_not_ours_pass_through() -> None:
    assert logview.render("Exception in thread main\n", pretty=True, colour=False) == (
        "Exception in thread main"
    )
