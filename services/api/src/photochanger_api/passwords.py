"""The ingest password: stored only as an argon2 hash, checked in constant time.

argon2 is deliberately slow (tens of milliseconds), too slow for every photo of a busy
photobooth. After one successful slow check, the process remembers an HMAC of the accepted
password under a per-process random key, tied to the stored hash; later requests compare
HMACs in constant time. Rotating the password changes the hash, which drops the memory."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class IngestPasswordVerifier:
    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        self._key = secrets.token_bytes(32)
        self._accepted: tuple[str, bytes] | None = None  # (stored hash, HMAC of password)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def _mac(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    async def verify(self, stored_hash: str | None, password: str | None) -> bool:
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
        try:
            await asyncio.to_thread(self._hasher.verify, stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        self._accepted = (stored_hash, mac)
        return True
