"""Consumer groups as the broker sees them (`photochanger_devstack.groups`): lets a test wait
for replicas to share the work instead of sleeping."""

from __future__ import annotations

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.groups import group_state
from photochanger_devstack.groups import wait_group_stable as _wait

__all__ = ["group_state", "wait_group_stable"]


async def wait_group_stable(
    bootstrap_servers: str, group: str, members: int, *, timeout: float = 60
) -> None:
    """Until `group` has exactly `members` members and has handed out its partitions."""
    try:
        await _wait(bootstrap_servers, group, members, timeout=timeout)
    except DevstackError as exc:
        raise AssertionError(str(exc)) from None
