"""Kafka consumer groups as the broker sees them: how many members a group has and whether it
has handed out its partitions (state `Stable`). How tests and the benchmark wait for the
replicas of a service to share the work, instead of sleeping."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient

from photochanger_devstack.errors import DevstackError


async def group_state(bootstrap_servers: str, group: str) -> tuple[str, int]:
    """(state, member count) of a consumer group: `Stable` once every member has its
    partitions; `PreparingRebalance` / `CompletingRebalance` while they are being moved;
    `Dead` / `Empty` without members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    _error, _group, state, _protocol_type, _protocol, members, *_ = described
    return str(state), len(members)


async def wait_group_stable(
    bootstrap_servers: str, group: str, members: int, *, timeout: float = 60.0
) -> float:
    """Until `group` has exactly `members` members and has handed out its partitions; returns
    the seconds it took. A member that died without leaving counts until its session ends."""
    started = time.monotonic()
    seen: tuple[str, int] = ("unknown", 0)
    while time.monotonic() - started < timeout:
        seen = await group_state(bootstrap_servers, group)
        if seen == ("Stable", members):
            return time.monotonic() - started
        await asyncio.sleep(0.1)  # poll interval of a bounded wait
    raise DevstackError(
        f"consumer group {group} not Stable with {members} member(s) after {timeout:g} s "
        f"(last seen: {seen[0]} with {seen[1]})"
    )
