"""What the kernel knows about the stack's processes: resident memory and CPU time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def status_kib(pid: int, key: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM, ...) in KiB, or None."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def rss_mb(pid: int, key: str = "VmRSS") -> float | None:
    """VmRSS (or VmHWM: the peak) of a process in MB (10^6 bytes)."""
    kib = status_kib(pid, key)
    return None if kib is None else round(kib * 1024 / 1e6, 1)


def _stat_fields(stat: str) -> list[str]:
    # the command name (field 2) may contain spaces; everything after the last ')' is fixed
    return stat[stat.rfind(")") + 2 :].split()


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds of process group `pgid` (services are started in their own
    session, so this covers e.g. a JVM behind a launcher script), plus the leader's direct
    children that left the group (PostgreSQL's backends call setsid()) and the leader's
    exited, reaped children (cutime+cstime: e.g. PostgreSQL's autovacuum workers)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(Path(entry.path, "stat").read_text())
        except OSError:
            continue
        # fields[0] is state (field 3), so field N is fields[N - 3]
        if int(fields[2]) == pgid or int(fields[1]) == pgid:
            total += int(fields[11]) + int(fields[12])
        if int(entry.name) == pgid:
            total += int(fields[13]) + int(fields[14])
    return total / _TICKS


def group_rss_mb(pgid: int) -> float:
    """Resident memory of a process group and its leader's direct children in MB (sum of
    their RSS; PostgreSQL's shared buffers are counted once per process that touched them)."""
    pages = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(Path(entry.path, "stat").read_text())
        except OSError:
            continue
        if int(fields[2]) == pgid or int(fields[1]) == pgid:
            pages += int(fields[21])
    return round(pages * _PAGE / 1e6, 1)


MACHINE = "(whole machine)"
OTHERS = "(other processes)"


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    steal_and_guests = sum(fields[7:])  # steal, guest, guest_nice: not ours to count
    return (sum(fields) - idle - steal_and_guests) / _TICKS


def cpu_snapshot(groups: Mapping[str, int]) -> dict[str, float]:
    snapshot = {name: group_cpu_seconds(pgid) for name, pgid in groups.items()}
    own = os.times()
    snapshot["bench-client"] = own.user + own.system
    snapshot[MACHINE] = machine_busy_seconds()
    return snapshot


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per process group between two snapshots, plus what the rest of the
    machine used (other work running at the same time disturbs the measurement)."""
    used = {name: round(after[name] - before.get(name, 0.0), 2) for name in after}
    ours = sum(v for k, v in used.items() if k != MACHINE)
    used[OTHERS] = round(max(0.0, used[MACHINE] - ours), 2)
    return used


@dataclass
class RssSampler:
    """Samples VmRSS of one process every `interval` seconds while running."""

    pid: int
    interval: float = 0.1
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, MB)

    @property
    def peak_mb(self) -> float | None:
        return max((mb for _, mb in self.samples), default=None)

    def sample(self) -> None:
        mb = rss_mb(self.pid)
        if mb is not None:
            self.samples.append((time.monotonic(), mb))

    async def run(self, stop: asyncio.Event, max_seconds: float) -> None:
        deadline = time.monotonic() + max_seconds
        while not stop.is_set() and time.monotonic() < deadline:
            self.sample()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await stop.wait()
        self.sample()
