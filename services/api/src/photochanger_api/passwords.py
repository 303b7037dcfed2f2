"""Slow password checks, bounded; the ingest password checked in constant time, mostly
without the slow part.

argon2id (argon2-cffi defaults: 64 MiB, t=3, p=4) is deliberately expensive: each
verification holds 64 MiB and a core for tens of milliseconds. Unbounded, a burst of wrong
passwords is a memory and CPU exhaustion attack (24 parallel guesses took an api past its
768 MiB pod limit). So every verification goes through `PasswordChecks`: at most a few at
once, a few more queued, and beyond that refused at once (`PasswordChecksBusy`, answered 503)
rather than queued without bound.

The ingest password is shared by all booths and sent with every photo. After one slow check
the process remembers an HMAC of the password under a per-process random key, tied to the
stored hash: the right password costs microseconds from then on, and so does a wrong one it
has already rejected (a bounded set of those), so repeating a guess buys an attacker nothing
but a 401. Identical checks running at the same moment share one verification. Rotating the
password changes the hash, which drops every memory (ADR-0007, ADR-0015)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from photochanger_runtime.observability import metrics

#: wrong ingest passwords remembered per stored hash (32-byte HMACs: 64 KiB at most)
REMEMBERED_REJECTIONS = 2048


class PasswordChecksBusy(Exception):
    """Every verification slot and queue place is taken: refuse now, the caller may retry."""


#: how much lower than the event loop argon2 runs (Linux niceness; its lane threads inherit it)
_ARGON2_NICENESS = 10


def _run_below_the_event_loop() -> None:
    """argon2 uses four threads per check; at normal priority two checks at once starve the
    event loop of a 2-core pod, and a booth's database call runs past its timeout."""
    # not Linux, or not allowed: argon2 runs at normal priority
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _ARGON2_NICENESS)


class PasswordChecks:
    """argon2 verifications of this process: `concurrent` at once, `waiting` more queued,
    on threads of their own at a lower priority than the event loop."""

    def __init__(self, *, concurrent: int = 2, waiting: int = 4) -> None:
        self._hasher = PasswordHasher()
        self._threads = ThreadPoolExecutor(
            max_workers=concurrent,
            thread_name_prefix="argon2",
            initializer=_run_below_the_event_loop,
        )
        self._slots = asyncio.Semaphore(concurrent)
        self._admitted = 0
        self._limit = concurrent + waiting

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def verify(self, stored_hash: str, password: str, *, purpose: str) -> bool:
        if self._admitted >= self._limit:
            raise PasswordChecksBusy
        self._admitted += 1
        try:
            await self._slots.acquire()
            metrics.PASSWORD_VERIFICATIONS.labels(purpose=purpose).inc()
            running = asyncio.get_running_loop().run_in_executor(
                self._threads, self._hasher.verify, stored_hash, password
            )
            # The slot is the thread's until argon2 is done, even when the request waiting for
            # it goes away: a cancelled check must not let another one start beside it.
            running.add_done_callback(lambda _: self._slots.release())
            await asyncio.shield(running)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        finally:
            self._admitted -= 1
        return True


class IngestPasswordVerifier:
    def __init__(self, checks: PasswordChecks | None = None) -> None:
        self._checks = checks if checks is not None else PasswordChecks()
        self._key = secrets.token_bytes(32)
        self._accepted: tuple[str, bytes] | None = None  # (stored hash, HMAC of password)
        self._rejected_for: str | None = None  # the stored hash `_rejected` was built against
        self._rejected: OrderedDict[bytes, None] = OrderedDict()
        self._running: dict[tuple[str, bytes], asyncio.Future[bool]] = {}

    def hash(self, password: str) -> str:
        return self._checks.hash(password)

    def _mac(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def fingerprint(self, password: str | None) -> bytes:
        """A keyed hash of a password, to tell repeats apart (this process only)."""
        return self._mac(password or "")

    def known_right(self, stored_hash: str | None, password: str | None) -> bool:
        """Whether `password` is the one this process already verified against
        `stored_hash` (no slow check; False when it has not verified one yet)."""
        accepted = self._accepted
        return bool(
            stored_hash and password and accepted is not None and accepted[0] == stored_hash
            and hmac.compare_digest(accepted[1], self._mac(password))
        )  # fmt: skip

    async def verify(self, stored_hash: str | None, password: str | None) -> bool:
        """Whether `password` matches; raises `PasswordChecksBusy` when a slow check was
        needed and none could start."""
        if not stored_hash or not password:
            return False
        mac = self._mac(password)
        accepted = self._accepted
        if (
            accepted is not None
            and accepted[0] == stored_hash
            and hmac.compare_digest(accepted[1], mac)
        ):
            return True
        if self._rejected_for == stored_hash and mac in self._rejected:
            self._rejected.move_to_end(mac)
            return False
        running = self._running.get((stored_hash, mac))
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._running[(stored_hash, mac)] = future
        try:
            ok = await self._checks.verify(stored_hash, password, purpose="ingest")
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else PasswordChecksBusy())
            future.exception()  # retrieved: waiters get it, nobody else needs to
            raise
        finally:
            del self._running[(stored_hash, mac)]
        future.set_result(ok)
        if ok:
            self._accepted = (stored_hash, mac)
        else:
            self._remember_rejection(stored_hash, mac)
        return ok

    def _remember_rejection(self, stored_hash: str, mac: bytes) -> None:
        if self._rejected_for != stored_hash:
            self._rejected_for = stored_hash
            self._rejected.clear()
        self._rejected[mac] = None
        if len(self._rejected) > REMEMBERED_REJECTIONS:
            self._rejected.popitem(last=False)


class AuthenticatedByToken(IngestPasswordVerifier):
    """For admin routes that take the ingest path: the route's JWT check already
    authenticated the caller, so the ingest password is not asked for."""

    def __init__(self) -> None:  # no argon2 state: nothing is ever verified
        pass

    async def verify(self, stored_hash: str | None, password: str | None) -> bool:
        return True

    def fingerprint(self, password: str | None) -> bytes:
        return b""

    def known_right(self, stored_hash: str | None, password: str | None) -> bool:
        return True
