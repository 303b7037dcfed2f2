"""What the kernel knows about the stack's processes: resident memory and CPU time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    comm: str
    #: utime + stime + cutime + cstime in clock ticks: the process and its children that
    #: have exited and were waited for (a PostgreSQL postmaster's finished backends)
    ticks: int


def process_table() -> dict[int, Proc]:
    """Every live process, from /proc/<pid>/stat."""
    table: dict[int, Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = _stat_fields(stat)
        # fields[0] is state (field 3), so field N is fields[N - 3]
        table[int(entry.name)] = Proc(
            pid=int(entry.name),
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            comm=stat[stat.find("(") + 1 : stat.rfind(")")],
            ticks=sum(int(v) for v in fields[11:15]),
        )
    return table


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def postmaster_pids(
    table: Mapping[int, Proc], pid_files: Sequence[Path], dirs: Sequence[Path]
) -> set[int]:
    """PostgreSQL postmasters of this stack: the pid on the first line of each
    ``postmaster.pid`` given, and every ``postgres`` process whose parent is not one (a
    postmaster) and whose command line names one of ``dirs`` (its data directory)."""
    found: set[int] = set()
    for pid_file in pid_files:
        try:
            first = pid_file.read_text().split("\n", 1)[0].strip()
        except OSError:
            continue
        if first.isdigit() and int(first) in table:
            found.add(int(first))
    wanted = [str(d) for d in dirs]
    for proc in table.values():
        if proc.comm not in ("postgres", "postmaster"):
            continue
        parent = table.get(proc.ppid)
        if parent is not None and parent.comm in ("postgres", "postmaster"):
            continue
        line = _cmdline(proc.pid)
        if any(d in line for d in wanted):
            found.add(proc.pid)
    return found


def descendants(table: Mapping[int, Proc], roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    seen: set[int] = set()
    todo = [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, []))
    return seen


MACHINE = "(whole machine)"
OTHERS = "(other processes)"
CLIENT = "load generator (bench)"
POSTGRES = "postgresql"


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    steal_and_guests = sum(fields[7:])  # steal, guest, guest_nice: not ours to count
    return (sum(fields) - idle - steal_and_guests) / _TICKS


@dataclass
class CpuProbe:
    """CPU seconds per named process: each stack process's whole process group (services
    and servers are started in their own session: a JVM behind a launcher is covered), plus
    PostgreSQL (a postmaster found by :func:`postmaster_pids`, with all its descendants, live
    or waited for), the load generator (this process) and the whole machine."""

    groups: Mapping[str, int]  # name -> process group id
    postgres_pid_files: Sequence[Path] = ()
    postgres_dirs: Sequence[Path] = ()

    def snapshot(self) -> dict[str, float]:
        table = process_table()
        postgres = descendants(
            table, postmaster_pids(table, self.postgres_pid_files, self.postgres_dirs)
        )
        by_group = {pgid: name for name, pgid in self.groups.items()}
        ticks: dict[str, int] = {name: 0 for name in self.groups}
        if postgres:
            ticks[POSTGRES] = 0
        for proc in table.values():
            if proc.pid in postgres:
                ticks[POSTGRES] += proc.ticks
            elif proc.pgid in by_group and proc.pid != os.getpid():
                ticks[by_group[proc.pgid]] += proc.ticks
        snapshot = {name: value / _TICKS for name, value in ticks.items()}
        own = os.times()
        snapshot[CLIENT] = own.user + own.system  # not children: those are the services
        snapshot[MACHINE] = machine_busy_seconds()
        return snapshot


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per process between two snapshots (never negative: a process that ended
    in between counts 0), plus what the rest of the machine used: other work running at the
    same time disturbs the measurement."""
    used = {name: round(max(0.0, after[name] - before.get(name, 0.0)), 3) for name in after}
    ours = sum(v for k, v in used.items() if k != MACHINE)
    used[OTHERS] = round(max(0.0, used[MACHINE] - ours), 3)
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
