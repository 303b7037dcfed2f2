"""Keeping a local platform running: a process that exits is started again, after 1 s, then
2 s, 4 s … at most 30 s between tries; one that then stays up for 60 s starts over at 1 s.
Each restart is one readable line; the other processes keep serving meanwhile.

`check()` does one round and returns at once when nothing is due; call it every half second
from the thread that started the processes (a server started from another thread is signalled
to stop when that thread ends — see `procs.Running.restart`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
#: up this long, a process counts as healthy again: its next failure waits FIRST_DELAY
HEALTHY_AFTER = 60.0


@dataclass
class _Watched:
    name: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    up_since: float
    delay: float = FIRST_DELAY
    down_since: float | None = None
    restarts: int = 0
    paused: bool = False


@dataclass
class Supervisor:
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    _watched: dict[str, _Watched] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, name: str, alive: Callable[[], bool], restart: Callable[[], None]) -> None:
        self._watched[name] = _Watched(name, alive, restart, up_since=self.clock())

    def pause(self, name: str) -> None:
        """Leave `name` down on purpose (a planned outage) until `resume`."""
        with self._lock:
            self._watched[name].paused = True

    def resume(self, name: str) -> None:
        with self._lock:
            watched = self._watched[name]
            watched.paused, watched.delay = False, FIRST_DELAY
            if watched.down_since is not None:  # due at once
                watched.down_since = self.clock() - FIRST_DELAY

    def restarts(self, name: str) -> int:
        return self._watched[name].restarts

    def names(self) -> list[str]:
        return list(self._watched)

    def check(self) -> list[str]:
        """Restart what is due; returns the names restarted in this round."""
        restarted: list[str] = []
        with self._lock:
            for watched in self._watched.values():
                if self._due(watched):
                    restarted.append(watched.name)
                    self._restart(watched)
        return restarted

    def _due(self, watched: _Watched) -> bool:
        now = self.clock()
        if watched.alive():
            if watched.down_since is None and now - watched.up_since >= HEALTHY_AFTER:
                watched.delay = FIRST_DELAY
            return False
        if watched.down_since is None:
            watched.down_since = now
            self.say(f"{watched.name} exited; restarting in {watched.delay:g} s")
        return not watched.paused and now - watched.down_since >= watched.delay

    def _restart(self, watched: _Watched) -> None:
        watched.restarts += 1
        try:
            watched.restart()
        except Exception as exc:
            watched.down_since = self.clock()
            watched.delay = min(watched.delay * 2, MAX_DELAY)
            self.say(f"{watched.name} did not start ({exc}); next try in {watched.delay:g} s")
            return
        now = self.clock()
        downtime = now - watched.down_since if watched.down_since is not None else 0.0
        self.say(f"{watched.name} restarted after {downtime:.1f} s (restart {watched.restarts})")
        watched.down_since, watched.up_since = None, now
        watched.delay = min(watched.delay * 2, MAX_DELAY)
