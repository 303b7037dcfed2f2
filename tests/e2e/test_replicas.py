"""The platform as a fleet: several replicas of every service on real Kafka and FerretDB (the
session's platform scaled out as `PHOTOCHANGER_REPLICAS` would start it). The work spreads over
the replicas, every api replica gets the answer of the requests it holds, one replica of each
kind SIGKILLed mid-run loses nothing and submits nothing twice, and provider replicas scaled
1 → 3 → 1 during a run lose nothing."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e import platforms
from tests.e2e.helpers import queue_for, sha256, submissions_for
from tests.support.images import png_photo
from tests.support.kafka_groups import wait_group_stable
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

FLEET = {
    "api": 2, "dispatcher": 2, "provider-gemini": 3, "provider-turbotext": 2, "ttl-reaper": 2,
}  # fmt: skip
#: the consumer group of each service whose replicas share a topic's partitions
#: service -> (its consumer group, members each replica adds): a dispatcher consumes
#: `jobs.created` and `provider.admissions` in one group (ADR-0019)
GROUPS = {"dispatcher": ("dispatcher", 2), "provider-gemini": ("provider-gemini", 1),
          "provider-turbotext": ("provider-turbotext", 1)}  # fmt: skip
GEMINI, TURBOTEXT = "slot-001", "slot-002"

_booths = itertools.count(1)
_seeds = itertools.count(1000)  # photos no other test sends


@pytest.fixture(scope="module")
def fleet(stack: Stack) -> Iterator[Stack]:
    """The session's platform scaled out to FLEET (on the main thread: a process dies with the
    thread that started it), and back to its own counts afterwards."""
    own_counts = dict(stack.replicas)
    try:
        for service, count in FLEET.items():
            stack.start_replicas(service, max(count, own_counts[service]))
        for service in FLEET:
            for name in stack.replica_names(service):
                stack.wait_ready(name)
        yield stack
    finally:
        for service, count in own_counts.items():
            stack.scale(service, count)
        with ThreadPoolExecutor(1) as thread:  # its own event loop, outside the tests' one
            thread.submit(asyncio.run, groups_stable(stack)).result()


@pytest.fixture
async def ready_fleet(fleet: Stack) -> Stack:
    """The fleet at its configured counts, each consumer group sharing its partitions."""
    for service, count in FLEET.items():
        await platforms.scale(fleet, service, count)
    await groups_stable(fleet)
    return fleet


async def groups_stable(stack: Stack) -> None:
    for service, (group, per_replica) in GROUPS.items():
        await wait_group_stable(
            stack.infra.kafka_bootstrap_servers, group, stack.replicas[service] * per_replica
        )


def gemini_photo(emulate: str = "slow=0.3") -> bytes:
    return png_photo(next(_seeds), emulate=emulate)


def turbotext_photo(polls: int = 2) -> bytes:
    return png_photo(next(_seeds), emulate=f"polls={polls}")


async def post(base_url: str, stack: Stack, slot_id: str, photo: bytes) -> httpx.Response:
    """One booth's request on a connection of its own (no keep-alive: on the shared api port
    each new connection may reach another replica)."""
    async with httpx.AsyncClient(
        base_url=base_url, timeout=90, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        return await client.post(
            f"/ingest/{slot_id}",
            data={"password": stack.ingest_password},
            files={"fileToUpload": ("p.png", photo, "image/png")},
            headers={"X-Forwarded-For": f"10.0.{next(_booths) % 250}.{next(_booths) % 250}"},
        )


async def metric_sum(stack: Stack, replica: str, name: str, labels: str = "") -> float:
    """The sum of a metric's samples on one replica (0 when it has none yet)."""
    async with httpx.AsyncClient(base_url=stack.replica_url(replica), timeout=5) as client:
        text = (await client.get("/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (not labels or labels in line):
            head, value = line.rsplit(" ", 1)
            if head == name or head.startswith(name + "{"):
                total += float(value)
    return total


async def ingest_answers(stack: Stack, replica: str) -> float:
    return await metric_sum(
        stack, replica, "photochanger_ingest_requests_total", 'status_code="200"'
    )


async def claiming_workers(db: Any, job_ids: list[str], provider: str) -> set[str]:
    claims = db.job_claims.find({"job_id": {"$in": job_ids}})
    return {c["worker_id"] async for c in claims if c["worker_id"].startswith(f"{provider}-")}


async def all_final(db: Any, job_ids: list[str]) -> list[dict[str, Any]]:
    """Every job's final record, once all are written (none left unfinished)."""

    async def finals() -> list[dict[str, Any]] | None:
        found = [j async for j in db.jobs.find({"_id": {"$in": job_ids}})]
        return found if len(found) == len(set(job_ids)) else None

    return await eventually(finals, timeout=60, what=f"final records of {len(job_ids)} jobs")


async def test_jobs_spread_over_the_replicas_and_every_api_replica_gets_its_answers(
    ready_fleet: Stack, db: Any
) -> None:
    stack = ready_fleet
    apis = stack.replica_names("api")
    before = {name: await ingest_answers(stack, name) for name in apis}
    dispatched_before = {
        name: await metric_sum(stack, name, "photochanger_jobs_dispatched_total")
        for name in stack.replica_names("dispatcher")
    }
    # each api replica alone holds 6 requests; 12 more go to the shared port
    direct = {name: 6 for name in apis}
    requests = [
        post(stack.replica_url(name), stack, slot, photo)
        for name, count in direct.items()
        for slot, photo in [(GEMINI, gemini_photo()), (TURBOTEXT, turbotext_photo())] * (count // 2)
    ]
    requests += [post(stack.api_url, stack, GEMINI, gemini_photo()) for _ in range(6)]
    requests += [post(stack.api_url, stack, TURBOTEXT, turbotext_photo()) for _ in range(6)]
    answers = await asyncio.gather(*requests)

    assert [a.status_code for a in answers] == [200] * len(answers), [
        a.text for a in answers if a.status_code != 200
    ]
    # a replica answered each of its own requests: the status events reached it
    for name in apis:
        assert await ingest_answers(stack, name) - before[name] >= direct[name], name
    for name, count in dispatched_before.items():
        dispatched = await metric_sum(stack, name, "photochanger_jobs_dispatched_total")
        assert dispatched > count, f"{name} routed none of the jobs"
    job_ids = [a.headers["x-job-id"] for a in answers]
    assert len(await claiming_workers(db, job_ids, "gemini")) >= 2
    assert len(await claiming_workers(db, job_ids, "turbotext")) == 2
    finals = await all_final(db, job_ids)
    assert {j["outcome"] for j in finals} == {"succeeded"}


async def test_provider_replicas_scaled_one_three_one_during_a_run_lose_nothing(
    ready_fleet: Stack, db: Any
) -> None:
    stack = ready_fleet
    bootstrap = stack.infra.kafka_bootstrap_servers
    await platforms.scale(stack, "provider-gemini", 1)
    await wait_group_stable(bootstrap, "provider-gemini", 1)
    answered: list[httpx.Response] = []
    stop = asyncio.Event()
    booths = 6

    async def booth() -> None:
        while not stop.is_set():
            answered.append(await post(stack.api_url, stack, GEMINI, gemini_photo("slow=1")))

    async def a_round_more(what: str) -> None:
        mark = len(answered)
        await eventually(
            lambda: asyncio.sleep(0, len(answered) >= mark + booths), timeout=60, what=what
        )

    load = asyncio.gather(*(booth() for _ in range(booths)))
    await a_round_more("a round on one replica")
    await platforms.scale(stack, "provider-gemini", 3)
    await wait_group_stable(bootstrap, "provider-gemini", 3)
    await a_round_more("a round on three replicas")
    # a graceful scale-down while the two newest replicas hold jobs
    await platforms.scale(stack, "provider-gemini", 1)
    await a_round_more("a round on one replica again")
    stop.set()
    await load

    assert [a.status_code for a in answered] == [200] * len(answered), [
        a.text for a in answered if a.status_code != 200
    ]
    job_ids = [a.headers["x-job-id"] for a in answered]
    finals = await all_final(db, job_ids)
    assert {j["outcome"] for j in finals} == {"succeeded"}
    assert len(await claiming_workers(db, job_ids, "gemini")) >= 2


async def test_a_replica_of_each_kind_killed_mid_run_loses_nothing_and_submits_nothing_twice(
    ready_fleet: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    stack = ready_fleet
    survivor, victim = stack.replica_names("api")
    held = [(TURBOTEXT, turbotext_photo(polls=10)) for _ in range(8)]
    held += [(GEMINI, gemini_photo("slow=4")) for _ in range(6)]
    on_victim = [(TURBOTEXT, turbotext_photo(polls=10)) for _ in range(3)]
    on_victim += [(GEMINI, gemini_photo("slow=6")) for _ in range(3)]
    survivor_answers = [
        asyncio.create_task(post(stack.replica_url(survivor), stack, slot, photo))
        for slot, photo in held
    ]
    victim_answers = [
        asyncio.create_task(post(stack.replica_url(victim), stack, slot, photo))
        for slot, photo in on_victim
    ]
    photos = [photo for _, photo in held + on_victim]
    turbotext_photos = [photo for slot, photo in held + on_victim if slot == TURBOTEXT]

    async def jobs_of(photos: list[bytes]) -> list[str] | None:
        shas = {sha256(p) for p in photos}
        found = {}
        for collection in (db.jobs_live, db.jobs):
            async for job in collection.find({"payload.sha256": {"$in": list(shas)}}):
                found[job["payload"]["sha256"]] = job["_id"]
        return list(found.values()) if len(found) == len(shas) else None

    async def mid_run() -> bool:
        submitted = [await queue_for(emulators["turbotext"], sha256(p)) for p in turbotext_photos]
        return all(q is not None for q in submitted) and await jobs_of(photos) is not None

    await eventually(mid_run, timeout=60, what="every job created and every submission made")
    for service in FLEET:
        stack.kill(stack.replica_names(service)[-1])  # api.2, dispatcher.2, provider-gemini.3 …

    # the others keep serving: new booths on the api port reach the surviving replica
    after_kill = [(GEMINI, gemini_photo()) for _ in range(3)]
    after_kill += [(TURBOTEXT, turbotext_photo()) for _ in range(3)]
    later = await asyncio.gather(*(post(stack.api_url, stack, s, p) for s, p in after_kill))
    answers = await asyncio.gather(*survivor_answers)
    assert [a.status_code for a in [*answers, *later]] == [200] * (len(answers) + len(later))
    # the requests the killed replica held lost their connection, not their jobs
    lost_connections = await asyncio.gather(*victim_answers, return_exceptions=True)
    assert all(isinstance(a, httpx.TransportError) for a in lost_connections), lost_connections

    job_ids = await eventually(
        lambda: jobs_of(photos + [p for _, p in after_kill]), what="a job for every photo"
    )
    finals = await all_final(db, job_ids)
    assert {j["outcome"] for j in finals} == {"succeeded"}, [
        (j["_id"], j["outcome"]) for j in finals if j["outcome"] != "succeeded"
    ]
    for photo in turbotext_photos:
        assert await submissions_for(emulators["turbotext"], sha256(photo)) == 1
    assert await db.jobs_live.count_documents({"_id": {"$in": job_ids}}) == 0
