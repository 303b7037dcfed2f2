"""Finding (e): the public result link was the job id — the id in every log line, trace,
Kafka key and admin screen. Now each job has a random token of its own, handed to the booth
in `X-Result-Url` and stored only as a hash; the job id alone downloads nothing. Links from
before the change (bare job ids of jobs without a token hash) keep working until their
results expire (ADR-0015)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.helpers import final_record, ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _logs(stack: Stack) -> str:
    return "".join(p.read_text(errors="replace") for p in (stack.state_dir / "logs").glob("*.log"))


async def test_the_job_id_is_no_longer_a_download_link(
    api: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    answer = await ingest(api, stack, "slot-001", jpeg_photo(970))
    assert answer.status_code == 200
    job_id, link = answer.headers["x-job-id"], answer.headers["x-result-url"]
    token = link.rsplit("/", 1)[1]

    assert (await api.get(f"/public/results/{job_id}")).status_code == 404
    assert (await api.get(link)).content == answer.content
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert (await api.get(f"/public/results/{tampered}")).status_code == 404

    record = await final_record(db, job_id)
    assert record["result_token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(record)  # only its hash is kept
    assert token not in _logs(stack)


async def test_a_link_from_before_tokens_works_until_its_result_expires(
    api: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    answer = await ingest(api, stack, "slot-001", jpeg_photo(971))
    job_id = answer.headers["x-job-id"]
    await final_record(db, job_id)
    # what a job finalized before the upgrade looks like: no token hash
    await db.jobs.update_one({"_id": job_id}, {"$unset": {"result_token_sha256": ""}})

    legacy = await api.get(f"/public/results/{job_id}")
    assert legacy.status_code == 200 and legacy.content == answer.content
