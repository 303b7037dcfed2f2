"""One job, one trace: from the ingest request through every Kafka hop to the provider call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.helpers import ingest
from tests.support.images import png_photo
from tests.support.otlp import ReceivedSpan, SpanStore
from tests.support.waiting import eventually

SERVER = 2  # OTLP SpanKind

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_a_job_is_one_trace_across_every_service(
    api: httpx.AsyncClient, stack: Stack, db: Any, spans: SpanStore
) -> None:
    response = await ingest(
        api, stack, "slot-002", png_photo(70, emulate="polls=1"), content_type="image/png"
    )
    assert response.status_code == 200
    final = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    [created] = [e for e in final["log"] if e["event"] == "created"]
    trace_id = created["trace_id"]
    assert all(e["trace_id"] == trace_id for e in final["log"])

    async def whole_trace() -> list[ReceivedSpan] | None:
        found = spans.trace(trace_id)
        ids = {s.span_id for s in found}
        complete = (
            {"api", "dispatcher", "provider-turbotext"} <= {s.service for s in found}
            and any(s.name == "turbotext poll" for s in found)
            and all(not s.parent_span_id or s.parent_span_id in ids for s in found)
        )
        return found if complete else None

    found = await eventually(whole_trace, what="spans of every service in one trace")
    by_id = {s.span_id: s for s in found}
    root = [s for s in found if not s.parent_span_id]
    assert len(root) == 1, found
    assert root[0].service == "api" and root[0].kind == SERVER and "/ingest/" in root[0].name
    # every other span hangs off the root through its parents
    for span in found:
        hops = 0
        while span.parent_span_id and hops < 50:
            span = by_id[span.parent_span_id]
            hops += 1
        assert span is root[0]
    names = {s.name for s in found}
    assert {"ingest", "turbotext submit", "turbotext job"} <= names
    assert any("jobs.created" in n for n in names)
    assert any("provider.turbotext.requests" in n for n in names)
