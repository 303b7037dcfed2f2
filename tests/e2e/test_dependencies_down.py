"""Capacity and unavailable dependencies, each with a second api process of its own."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.ports import free_ports
from photochanger_devstack.stack import Stack
from photochanger_runtime.media import MediaStore

from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo, png_photo
from tests.support.relay import relay_to
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ApiFactory = Callable[..., Any]


@pytest.fixture
async def second_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiFactory]:
    """Start another api process on the stack's database, with changed settings."""
    started: list[Stack] = []

    async def start(
        *, infra: Infrastructure | None = None, wait_ready: bool = True, **env: str
    ) -> tuple[Stack, httpx.AsyncClient]:
        other = dataclasses.replace(
            stack,
            infra=infra or stack.infra,
            state_dir=tmp_path_factory.mktemp("api2"),
            ports={**stack.ports, "api": free_ports(1)[0]},
            env={**stack.env, **(infra.as_env() if infra else {}), **env},
            processes={},
        )
        other.start("api", wait=False)
        started.append(other)
        if wait_ready:
            await asyncio.to_thread(other.wait_ready, "api")
        else:
            await asyncio.to_thread(_wait_alive, other)
        return other, httpx.AsyncClient(base_url=other.api_url, timeout=60)

    yield start
    for other in started:
        other.stop_all()


def _wait_alive(other: Stack) -> None:
    from photochanger_devstack.stack import _ready
    from photochanger_devstack.waiting import wait_until_ready

    wait_until_ready(
        lambda: _ready(f"{other.api_url}/healthz"),
        what="api",
        timeout=60,
        process=other.processes["api"],
    )


async def test_requests_beyond_capacity_get_429_with_retry_after(
    second_api: ApiFactory, stack: Stack
) -> None:
    other, client = await second_api(PHOTOCHANGER_MAX_WAITING_REQUESTS="1")
    async with client:
        slow = asyncio.create_task(
            ingest(client, other, "slot-001", png_photo(40, emulate="slow=3"),
                   content_type="image/png")
        )  # fmt: skip
        await _until_waiting(other, 1)
        rejected = await ingest(client, other, "slot-001", jpeg_photo(41))
        assert rejected.status_code == 429
        assert rejected.headers["retry-after"] == "5"
        assert rejected.json()["error"]["code"] == "at_capacity"
        assert (await slow).status_code == 200


async def _until_waiting(other: Stack, count: int) -> None:
    async def waiting() -> bool:
        async with httpx.AsyncClient(base_url=other.api_url) as client:
            text = (await client.get("/metrics")).text
        return f"photochanger_ingest_waiting_requests {float(count)}" in text

    await eventually(waiting, what=f"{count} waiting request(s)")


async def test_broker_down_answers_503_and_finalizes_the_job(
    second_api: ApiFactory, stack: Stack, db: Any, media: MediaStore
) -> None:
    dead_kafka = dataclasses.replace(
        stack.infra, kafka_bootstrap_servers=f"127.0.0.1:{free_ports(1)[0]}"
    )
    other, client = await second_api(infra=dead_kafka, wait_ready=False)
    photos_before = {o.key async for o in media.list("payloads/")}
    async with client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        response = await ingest(client, other, "slot-001", jpeg_photo(42))
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    job = await db.jobs.find_one({"_id": error["details"]["job_id"]})
    assert job["status"] == "finalized" and job["error"]["code"] == "publish_failed"
    assert {o.key async for o in media.list("payloads/")} <= photos_before  # photo removed


@pytest.mark.timeout(300)  # a start of its own, then Kafka's late arrival
async def test_an_api_started_before_kafka_gets_ready_when_kafka_comes_up(
    second_api: ApiFactory, stack: Stack
) -> None:
    """Kafka refuses every connection while the api starts; when it comes up, the broker cuts
    one connection of the api's first start (the third: after the topic check and the
    producer, as a swamped broker did). The api's next start connects afresh and it gets
    ready — it does not keep a client that never connected."""
    async with relay_to(stack.infra.kafka_bootstrap_servers, refusing=True) as kafka:
        late_kafka = dataclasses.replace(stack.infra, kafka_bootstrap_servers=kafka.address)
        _, client = await second_api(infra=late_kafka, wait_ready=False)
        async with client:
            assert (await client.get("/readyz")).status_code == 503
            await eventually(lambda: asyncio.sleep(0, kafka.refused > 0), what="a start try")
            kafka.open_dropping(3)
            refused = kafka.refused

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=90, what="the api to be ready")
        assert kafka.refused == refused + 1  # the cut happened, and the api got over it


async def test_database_down_answers_503(second_api: ApiFactory, stack: Stack) -> None:
    dead_db = dataclasses.replace(
        stack.infra, mongodb_uri=f"mongodb://127.0.0.1:{free_ports(1)[0]}/"
    )
    other, client = await second_api(infra=dead_db, wait_ready=False)
    async with client:
        response = await ingest(client, other, "slot-001", jpeg_photo(43))
    assert response.status_code == 503, response.text
    assert response.json()["error"]["details"]["dependency"] == "database"


async def test_a_stopping_api_answers_its_waiting_requests_503_and_their_jobs_go_on(
    second_api: ApiFactory, stack: Stack, db: Any
) -> None:
    """SIGTERM: no new request is taken, the waiting ones get the grace period, then a JSON
    503 with Retry-After — the jobs themselves go on and end normally."""
    other, client = await second_api(PHOTOCHANGER_SHUTDOWN_GRACE_SECONDS="3")
    async with client:
        slow = asyncio.create_task(
            ingest(
                client, other, "slot-001", png_photo(45, emulate="slow=6"), content_type="image/png"
            )
        )
        await _until_waiting(other, 1)
        started = asyncio.get_running_loop().time()
        stopping = asyncio.create_task(asyncio.to_thread(other.stop, "api", 15.0))
        answer = await slow
        took = asyncio.get_running_loop().time() - started
        await stopping
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    error = answer.json()["error"]
    assert error["code"] == "service_unavailable" and error["details"]["job_id"]
    assert 1.0 <= took < 5.0  # after the grace period, not at once and not at the deadline

    from tests.e2e.helpers import final_record

    final = await final_record(db, error["details"]["job_id"])
    assert final["outcome"] == "succeeded"  # the job went on without its request
