"""Who a client key is: looked up by id, remembered briefly, and charged against its rate.

A lookup is one database command by `_id`. Each process remembers a found key for
`cache_seconds` (1 s by default, ADR-0016), so a burst of a client's requests costs one
command, and a revoked key stops working on every replica within that time — at once on the
replica that revoked it. Unknown and revoked keys are not remembered: they cost a lookup each,
and the unauthenticated ingest throttle still bounds them there.

The rate limit counts submissions per key in a sliding minute, per process (like the ingest
throttles): with N api replicas behind a balancer a key gets at most N times its limit."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from photochanger_contracts import ErrorCode

from ..errors import ApiError
from .keys import ClientKey, parse
from .store import ClientKeyStore

_WINDOW_SECONDS = 60.0


class KeyRejected(Exception):
    """Unknown, malformed or revoked key."""


class ClientKeyAuth:
    def __init__(
        self,
        store: ClientKeyStore,
        *,
        cache_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._found: dict[str, tuple[ClientKey, float]] = {}
        self._submissions: dict[str, deque[float]] = {}

    async def identify(self, token: str | None) -> ClientKey:
        """The live key behind `token`; `KeyRejected` otherwise."""
        parsed = parse(token or "")
        if parsed is None:
            raise KeyRejected
        key_id, secret = parsed
        now = self._monotonic()
        cached = self._found.get(key_id)
        if cached is not None and now - cached[1] < self._cache_seconds:
            key = cached[0]
        else:
            found = await self._store.get(key_id)
            if found is None or found.revoked:
                self._found.pop(key_id, None)
                raise KeyRejected
            key = found
            if self._cache_seconds > 0:
                self._found[key_id] = (key, now)
                if len(self._found) > 10_000:  # bounded: drop the oldest
                    self._found.pop(next(iter(self._found)))
        if not key.matches(secret):
            raise KeyRejected
        return key

    def forget(self, key_id: str) -> None:
        """This process revoked the key: stop honouring it now."""
        self._found.pop(key_id, None)

    def charge(self, key: ClientKey) -> None:
        """Count one submission; 429 past the key's limit in the last minute."""
        now = self._monotonic()
        recent = self._submissions.setdefault(key.id, deque())
        while recent and now - recent[0] >= _WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= key.rate_limit_per_minute:
            retry = max(1, int(_WINDOW_SECONDS - (now - recent[0])) + 1)
            raise ApiError(
                ErrorCode.AT_CAPACITY,
                "this client key is over its rate limit",
                {"key_id": key.id, "limit_per_minute": key.rate_limit_per_minute},
                headers={"Retry-After": str(retry)},
            )
        recent.append(now)


def unauthorized_key() -> ApiError:
    return ApiError(
        ErrorCode.UNAUTHORIZED,
        "a valid client key is required (Authorization: Bearer pck_…)",
        headers={"WWW-Authenticate": 'Bearer realm="photochanger"'},
    )


def require_slot(key: ClientKey, slot_id: str) -> None:
    if not key.allows(slot_id):
        raise ApiError(
            ErrorCode.FORBIDDEN,
            "this client key may not use this slot",
            {"slot_id": slot_id, "key_id": key.id},
        )
