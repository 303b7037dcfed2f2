"""The load shapes: sequential requests, bursts of concurrent requests, open-loop arrivals
at a fixed rate, closed-loop clients as fast as answers come back, and many simultaneously
waiting requests. Every loop is bounded both in count and in time. Photos are made when they
are sent (a camera-sized photo is ~630 kB: thousands of them are not kept in memory)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.client import IngestResult, ingest
from bench.payloads import PhotoFactory
from bench.procfs import RssSampler

WAITING_GAUGE = "photochanger_ingest_waiting_requests"
#: a client waits this long for an answer: longer than the platform's 48 s job deadline
CLIENT_TIMEOUT = 90.0


@dataclass
class Target:
    """Where the platform is expected to be; the url and the password of its api."""

    api_url: str
    password: str
    slot_id: str = "slot-001"
    api_pid: int = 0

    @property
    def ingest_url(self) -> str:
        return f"{self.api_url}/ingest/{self.slot_id}"


@dataclass
class Run:
    """The raw outcome of one scenario, before verification."""

    results: list[IngestResult]
    started: float  # monotonic
    ended: float  # monotonic: the last answer (or give-up)
    window: float  # the load phase's planned length in seconds
    rss: RssSampler
    waiting_peak: float | None = None
    #: seconds from the first send until the waiting gauge reached its goal (connections)
    waiting_goal_reached_after: float | None = None
    waiting_samples: list[tuple[float, float]] = field(default_factory=list)
    abandoned: int = 0
    #: burst: the results of each round
    rounds: list[list[IngestResult]] = field(default_factory=list)


#: how often the api's waiting-requests gauge is read while load runs: a Prometheus scrape's
#: pace. A scrape costs the api ~6 ms of CPU; read twice a second it was the bench's own
#: load on the server it measures. (The connections scenario reads it five times a second: it waits
#: for a goal.)
GAUGE_EVERY = 5.0


def make_client(connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(CLIENT_TIMEOUT, connect=30.0, pool=CLIENT_TIMEOUT),
    )


async def waiting_gauge(client: httpx.AsyncClient, api_url: str) -> float | None:
    try:
        text = (await client.get(f"{api_url}/metrics", timeout=5.0)).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(WAITING_GAUGE + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def warm_up(
    target: Target, photos: PhotoFactory, *, max_requests: int = 60, max_seconds: float = 120.0
) -> dict[str, float | int | bool]:
    """Sequential ingests until five in a row answer 200 within 5 s: consumer groups joined,
    connections open, password cached, and the previous scenario's backlog drained."""
    started = time.monotonic()
    deadline = started + max_seconds
    good = 0
    sent = 0
    last_ms = 0.0
    async with make_client(8) as client:
        while sent < max_requests and time.monotonic() < deadline and good < 5:
            result = await ingest(client, target.ingest_url, target.password, photos.make())
            sent += 1
            last_ms = result.latency_ms
            good = good + 1 if result.ok and result.latency_ms < 5000 else 0
            if not result.ok:
                await asyncio.sleep(0.5)
    return {
        "requests": sent,
        "ready": good >= 5,
        "seconds": round(time.monotonic() - started, 1),
        "last_latency_ms": round(last_ms, 1),
    }


async def _gather_bounded(
    tasks: list[asyncio.Task[IngestResult]], timeout: float
) -> tuple[list[IngestResult], int]:
    """Wait for every request at most `timeout` s; unfinished ones are cancelled."""
    if not tasks:
        return [], 0
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return [t.result() for t in done if not t.cancelled()], len(pending)


class Monitor:
    """RSS of the api process and its waiting-requests gauge, sampled while load runs."""

    def __init__(self, target: Target, *, gauge_every: float, max_seconds: float) -> None:
        self.rss = RssSampler(target.api_pid, interval=0.1)
        self.gauge: list[tuple[float, float]] = []
        self._target = target
        self._gauge_every = gauge_every
        self._max_seconds = max_seconds
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.goal: float | None = None
        self.goal_reached: float | None = None  # monotonic

    async def _poll_gauge(self) -> None:
        deadline = time.monotonic() + self._max_seconds
        async with make_client(2) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                value = await waiting_gauge(client, self._target.api_url)
                now = time.monotonic()
                if value is not None:
                    self.gauge.append((now, value))
                    if self.goal is not None and value >= self.goal and self.goal_reached is None:
                        self.goal_reached = now
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._gauge_every):
                        await self._stop.wait()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.rss.run(self._stop, self._max_seconds)),
            asyncio.create_task(self._poll_gauge()),
        ]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    @property
    def gauge_peak(self) -> float | None:
        return max((v for _, v in self.gauge), default=None)


async def _with_monitor(
    target: Target,
    window: float,
    gauge_every: float,
    body: Callable[[Monitor], Awaitable[tuple[list[IngestResult], int, float]]],
    *,
    goal: float | None = None,
) -> Run:
    monitor = Monitor(target, gauge_every=gauge_every, max_seconds=window + CLIENT_TIMEOUT + 60)
    monitor.goal = goal
    monitor.start()
    started = time.monotonic()
    try:
        results, abandoned, first_send = await body(monitor)
    finally:
        await monitor.stop()
    ended = max((r.done for r in results), default=time.monotonic())
    return Run(
        results=results,
        started=started,
        ended=ended,
        window=window,
        rss=monitor.rss,
        waiting_peak=monitor.gauge_peak,
        waiting_goal_reached_after=(
            monitor.goal_reached - first_send if monitor.goal_reached is not None else None
        ),
        waiting_samples=[(t - started, v) for t, v in monitor.gauge],
        abandoned=abandoned,
    )


async def sequential(
    target: Target, photos: PhotoFactory, *, count: int, max_seconds: float = 600.0
) -> Run:
    """`count` requests one after the other: each is sent when the previous one is answered."""

    async def body(_: Monitor) -> tuple[list[IngestResult], int, float]:
        results: list[IngestResult] = []
        async with make_client(2) as client:
            start = time.monotonic()
            deadline = start + max_seconds
            while len(results) < count and time.monotonic() < deadline:
                photo = photos.make()
                results.append(await ingest(client, target.ingest_url, target.password, photo))
        return results, 0, start  # stopped by the time bound: fewer requests, none abandoned

    return await _with_monitor(target, max_seconds, GAUGE_EVERY, body)


async def burst(
    target: Target, photos: PhotoFactory, *, size: int, rounds: int, pause: float
) -> Run:
    """`rounds` times: `size` requests sent at once on one slot, all answers awaited, then a
    `pause` (photos are made before each round, so that the requests leave together)."""
    groups: list[list[IngestResult]] = []

    async def body(_: Monitor) -> tuple[list[IngestResult], int, float]:
        abandoned = 0
        async with make_client(size + 10) as client:
            start = time.monotonic()
            for number in range(rounds):
                if number:
                    await asyncio.sleep(pause)
                prepared = [photos.make() for _ in range(size)]
                tasks = [
                    asyncio.create_task(ingest(client, target.ingest_url, target.password, p))
                    for p in prepared
                ]
                done, missing = await _gather_bounded(tasks, CLIENT_TIMEOUT + 10)
                groups.append(done)
                abandoned += missing
        return [r for g in groups for r in g], abandoned, start

    run = await _with_monitor(target, rounds * (pause + 5.0), GAUGE_EVERY, body)
    run.rounds = groups
    return run


async def open_loop(target: Target, photos: PhotoFactory, *, rate: float, seconds: float) -> Run:
    """Arrivals every 1/rate s regardless of answers (a photobooth fleet)."""
    count = max(1, round(rate * seconds))

    async def body(_: Monitor) -> tuple[list[IngestResult], int, float]:
        async with make_client(count + 10) as client:
            tasks: list[asyncio.Task[IngestResult]] = []
            first = time.monotonic() + 0.05
            for number in range(count):
                scheduled = first + number / rate
                photo = photos.make()
                delay = scheduled - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(
                    asyncio.create_task(
                        ingest(
                            client, target.ingest_url, target.password, photo, scheduled=scheduled
                        )
                    )
                )
            results, abandoned = await _gather_bounded(tasks, CLIENT_TIMEOUT + 10)
        return results, abandoned, first

    return await _with_monitor(target, seconds, GAUGE_EVERY, body)


async def closed_loop(
    target: Target,
    photos: PhotoFactory,
    *,
    clients: int,
    seconds: float,
    max_requests: int = 200_000,
) -> Run:
    """`clients` photobooths, each sending its next photo as soon as the last one is answered."""
    budget = [max_requests]

    async def body(_: Monitor) -> tuple[list[IngestResult], int, float]:
        async with make_client(clients + 10) as client:
            start = time.monotonic()
            end = start + seconds

            async def booth() -> list[IngestResult]:
                mine: list[IngestResult] = []
                while time.monotonic() < end and budget[0] > 0:
                    budget[0] -= 1
                    mine.append(
                        await ingest(client, target.ingest_url, target.password, photos.make())
                    )
                return mine

            booths = [asyncio.create_task(booth()) for _ in range(clients)]
            done, pending = await asyncio.wait(booths, timeout=seconds + CLIENT_TIMEOUT + 10)
            for task in pending:
                task.cancel()
            results = [r for t in done if not t.cancelled() for r in t.result()]
        return results, len(pending), start

    return await _with_monitor(target, seconds, GAUGE_EVERY, body)


async def many_waiting(
    target: Target,
    photos: PhotoFactory,
    *,
    connections: int,
    slow_seconds: float,
    ramp_seconds: float,
) -> Run:
    """`connections` requests, each held `slow_seconds` by the emulator, sent evenly over
    `ramp_seconds` (0: all at once), so that all of them wait in the api at the same time."""

    async def body(monitor: Monitor) -> tuple[list[IngestResult], int, float]:
        async with make_client(connections + 10) as client:
            first = time.monotonic()
            tasks: list[asyncio.Task[IngestResult]] = []
            for number in range(connections):
                photo = photos.make(emulate=f"slow={slow_seconds:g}")
                scheduled = first + ramp_seconds * number / connections
                delay = scheduled - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(
                    asyncio.create_task(ingest(client, target.ingest_url, target.password, photo))
                )
            results, abandoned = await _gather_bounded(tasks, CLIENT_TIMEOUT + 10)
        return results, abandoned, first

    return await _with_monitor(
        target, ramp_seconds + slow_seconds, 0.2, body, goal=float(connections)
    )
