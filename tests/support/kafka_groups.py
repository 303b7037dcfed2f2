"""Consumer groups as the broker sees them: how many members a group has and whether its
partitions are handed out (state `Stable`). Lets a test wait for replicas to share the work
instead of sleeping."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from tests.support.waiting import eventually


async def group_state(bootstrap_servers: str, group: str) -> tuple[str, int]:
    """(state, member count) of a consumer group: `Stable` once every member has its
    partitions; `PreparingRebalance` / `CompletingRebalance` while they are being moved."""
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
    bootstrap_servers: str, group: str, members: int, *, timeout: float = 60
) -> None:
    """Until `group` has exactly `members` members and has handed out its partitions."""

    async def stable() -> bool:
        return await group_state(bootstrap_servers, group) == ("Stable", members)

    await eventually(stable, timeout=timeout, what=f"{members} members in group {group}")
