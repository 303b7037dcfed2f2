"""Admin login failures this process has seen, checked before any database command.

`LoginThrottle` (in MongoDB, shared by every replica) is the authority, but asking it costs an
insert, two finds and a delete per attempt — even for an attempt it then refuses. This gate
keeps the same rules in process memory, fed by the failures (and throttled attempts) this
process answered: once it has seen `limit` of them for a key within the window, further
attempts are refused here with no database command. Per process, so with N replicas an
attacker reaches the database at most N times the limit per window; memory is bounded to the
most recent `max_keys` keys."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

from .login_throttle import LoginThrottle, ThrottleRule

MAX_KEYS = 10_000


class LoginGate:
    def __init__(
        self,
        *,
        per_user: ThrottleRule,
        per_address: ThrottleRule,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules = {"user": per_user, "addr": per_address}
        self._max_keys = max_keys
        self._clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, username: str, address: str) -> float | None:
        """Seconds until an attempt may reach the database again; None when it may now."""
        now = self._clock()
        waits = []
        for kind, key in LoginThrottle.keys(username, address).items():
            rule = self._rules[kind]
            times = self._seen.get(key)
            if times is None:
                continue
            while times and times[0] <= now - rule.window_seconds:
                times.popleft()
            if len(times) >= rule.limit:
                waits.append(times[-rule.limit] + rule.window_seconds - now)
        return max(waits) if waits else None

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        for kind, key in LoginThrottle.keys(username, address).items():
            times = self._seen.get(key)
            if times is None:
                times = self._seen[key] = deque(maxlen=self._rules[kind].limit)
                while len(self._seen) > self._max_keys:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(key)
            times.append(now)

    def succeeded(self, username: str, address: str) -> None:
        self._seen.pop(LoginThrottle.keys(username, address)["user"], None)
