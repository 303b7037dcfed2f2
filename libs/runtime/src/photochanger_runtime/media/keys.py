"""How media keys are laid out in the store (the same on every backend):

    payloads/{bucket}/{job_id}        the ingest photo of a job
    results/{bucket}/{job_id}.{n}     the result of one provider attempt at a job (two attempts
                                      racing each other never share a key)
    templates/{template_id}           a template image admins uploaded (no expiry)

`{bucket}` is the UTC hour by which everything in it has expired (`2026113014` holds
objects expiring before 15:00). Expiry normally deletes each object when its metadata in
MongoDB says so; a process that dies between writing bytes and writing their metadata
leaves an object nobody points to, and the orphan sweep deletes whole buckets once their
hour (plus a grace period) has passed — cheap on S3 (list one prefix) and on disk (one
folder), and never touching anything still alive."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

Kind = Literal["payloads", "results", "templates"]
EXPIRING_KINDS: Final[tuple[Kind, ...]] = ("payloads", "results")

_BUCKET_FORMAT: Final = "%Y%m%d%H"
_SAFE: Final = re.compile(r"^[A-Za-z0-9._-]+$")


class InvalidKey(ValueError):
    pass


def validate_key(key: str) -> str:
    """Keys are relative paths of safe segments: no `..`, no absolute paths, no oddities."""
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") or not _SAFE.match(p) for p in parts):
        raise InvalidKey(f"invalid media key {key!r}")
    return key


def bucket_of(expires_at: datetime) -> str:
    """The bucket holding objects that expire at `expires_at`: the hour that ends after it."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    hour = expires_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour.strftime(_BUCKET_FORMAT)


def bucket_end(bucket: str) -> datetime:
    """When every object in `bucket` has expired."""
    start = datetime.strptime(bucket, _BUCKET_FORMAT).replace(tzinfo=UTC)
    return start + timedelta(hours=1)


def payload_key(job_id: str, expires_at: datetime) -> str:
    return validate_key(f"payloads/{bucket_of(expires_at)}/{job_id}")


def result_key(job_id: str, attempt_id: str, expires_at: datetime) -> str:
    return validate_key(f"results/{bucket_of(expires_at)}/{job_id}.{attempt_id}")


def template_key(template_id: str) -> str:
    return validate_key(f"templates/{template_id}")


def is_bucket(name: str) -> bool:
    try:
        bucket_end(name)
    except ValueError:
        return False
    return True
