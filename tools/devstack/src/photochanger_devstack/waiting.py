"""Bounded readiness polling shared by the server modules."""

from __future__ import annotations

import time
from collections.abc import Callable

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.procs import BackgroundProcess, tail

READY_POLL_INTERVAL = 0.1


def wait_until_ready(
    probe: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: BackgroundProcess | None = None,
    interval: float = READY_POLL_INTERVAL,
) -> float:
    """Call ``probe`` every ``interval`` s until it returns True; return the seconds waited.

    Fails fast if ``process`` exits, and after ``timeout`` s; the error shows the end of the
    process log so the cause is visible without opening files.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if process is not None and not process.is_running():
            raise DevstackError(
                f"{what} exited with code {process.returncode} before it was ready; "
                f"log {process.log_file}:\n{tail(process.log_file)}"
            )
        if probe():
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            log_hint = ""
            if process is not None:
                log_hint = f"; log {process.log_file}:\n{tail(process.log_file)}"
            raise DevstackError(f"{what} was not ready after {timeout:.0f} s{log_hint}")
        time.sleep(interval)
