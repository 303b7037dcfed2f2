"""`Idempotency-Key`: the same key and body within 24 h name the same job.

The first request with a key inserts `{_id: sha256(scope, key), fingerprint, job_id}` into
`idempotency_keys`; an insert under a unique `_id` has one winner on every MongoDB-protocol
server (FerretDB's conditional updates are not atomic, ADR-0006), so two replicas receiving
the same retry at once still make one job. The loser reads the record: the same fingerprint
(slot, photo digest, fields) joins the recorded job, another one is refused (422).

The scope is the client key's id, or `ingest` for the shared ingest password: two clients'
keys never collide. A record that expired is deleted by the next request that meets it (and
by the reaper's sweep); a job that could not be created releases its record at once, so a
retry can try again. Only requests that send the header pay the insert: the ingest path
without one stays at four commands per job (ADR-0016)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta

from photochanger_contracts import ErrorCode
from photochanger_runtime.mongo import Document
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .errors import ApiError

RECORDS = "idempotency_keys"
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def fingerprint(slot_id: str, photo_sha256: str, fields: Mapping[str, str]) -> str:
    """What makes two requests "the same body": slot, photo and text fields (no password)."""
    digest = hashlib.sha256()
    for part in (slot_id, photo_sha256):
        digest.update(part.encode() + b"\0")
    for name in sorted(fields):
        if name != "password":
            digest.update(f"{name}={fields[name]}".encode() + b"\0")
    return digest.hexdigest()


def check_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not value or len(value) > MAX_KEY_LENGTH or not value.isprintable():
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST,
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
        )
    return value


def _record_id(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


class IdempotencyRecords:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._records = db[RECORDS]

    async def ensure_indexes(self) -> None:
        await self._records.create_index([("expires_at", ASCENDING)])

    async def claim(
        self, scope: str, key: str, print_: str, job_id: str, now: datetime
    ) -> str | None:
        """None when this request owns the key (its job is `job_id`); else the job the key
        names already. 422 when the key was used with another body."""
        record_id = _record_id(scope, key)
        for _ in range(3):
            try:
                await self._records.insert_one(
                    {"_id": record_id, "scope": scope, "fingerprint": print_, "job_id": job_id,
                     "created_at": now, "expires_at": now + RETENTION}
                )  # fmt: skip
                return None
            except DuplicateKeyError:
                found = await self._records.find_one({"_id": record_id})
            if found is None:  # released meanwhile: try again
                continue
            if found["expires_at"].replace(tzinfo=now.tzinfo) <= now:
                await self._records.delete_one({"_id": record_id, "job_id": found["job_id"]})
                continue
            if found["fingerprint"] != print_:
                raise ApiError(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "this Idempotency-Key was used with another request body",
                    {"idempotency_key": key[:80]},
                )
            return str(found["job_id"])
        raise in_progress(key)

    async def release(self, scope: str, key: str, job_id: str) -> None:
        """The job could not be created: free the key for a retry."""
        await self._records.delete_one({"_id": _record_id(scope, key), "job_id": job_id})

    async def sweep(self, now: datetime) -> int:
        result = await self._records.delete_many({"expires_at": {"$lte": now}})
        return result.deleted_count


def in_progress(key: str) -> ApiError:
    return ApiError(
        ErrorCode.IDEMPOTENCY_IN_PROGRESS,
        "a request with this Idempotency-Key is still being accepted, retry shortly",
        {"idempotency_key": key[:80]},
        headers={"Retry-After": "1"},
    )
