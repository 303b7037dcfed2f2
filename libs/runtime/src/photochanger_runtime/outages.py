"""Waiting out a dependency that is away for a moment (a database restart, a store blip).

One mechanism for every caller that would rather wait than fail: a provider's idempotent job
steps (until the job's deadline cancels them), the api's public media lookups (a few seconds)
and the api's settling of unconfirmed jobs (until their deadline)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .mongo import database_unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: names the dependency an error says is away for now ("database", …), or None: a failure
#: that waiting would not cure
Unavailable = Callable[[BaseException], str | None]


def database_away(exc: BaseException) -> str | None:
    return "database" if database_unavailable(exc) else None


async def wait_out(
    operation: Callable[[], Awaitable[T]],
    unavailable: Unavailable,
    *,
    give_up_in: float | None = None,
    first_delay: float = 0.1,
    max_delay: float = 2.0,
) -> T:
    """`operation()`, run again after a doubling pause while it fails on a dependency that
    `unavailable` names; for at most `give_up_in` seconds (then the last error is raised),
    or without a limit until the caller is cancelled."""
    give_up_at = None if give_up_in is None else time.monotonic() + give_up_in
    delay = first_delay
    while True:
        try:
            return await operation()
        except Exception as exc:
            away = unavailable(exc)
            if away is None or (give_up_at is not None and time.monotonic() + delay >= give_up_at):
                raise
            log.warning(
                "dependency unavailable, retrying",
                extra={"dependency": away, "error": type(exc).__name__},
            )
        await asyncio.sleep(delay)  # back-off between attempts, bounded by the caller
        delay = min(delay * 2, max_delay)
