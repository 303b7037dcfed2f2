"""How media keys are laid out in the store (the same on every backend):

    payloads/{bucket}/{job_id}        the ingest photo of a job
    results/{bucket}/{job_id}.{n}     the result of attempt n at a job (two attempts racing
                                      each other never share a key)
    templates/{template_id}           a template image admins uploaded (no expiry)

`{bucket}` is the ten minutes of UTC time in which everything in it expires
(`202611301430` holds objects expiring from 14:30 to 14:39:59). The expiry sweep deletes
whole buckets once they are over: cheap on S3 (list one prefix) and on disk (one folder),
without reading any metadata, and so it also removes the bytes of a process that died
between writing them and recording them. Nothing still alive is ever in an expired bucket."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

Kind = Literal["payloads", "results", "templates"]
EXPIRING_KINDS: Final[tuple[Kind, ...]] = ("payloads", "results")

_BUCKET_FORMAT: Final = "%Y%m%d%H%M"
BUCKET_LENGTH: Final = timedelta(minutes=10)
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
    """The bucket holding objects that expire at `expires_at`."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    moment = expires_at.astimezone(UTC)
    start = moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)
    return start.strftime(_BUCKET_FORMAT)


def bucket_end(bucket: str) -> datetime:
    """When every object in `bucket` has expired."""
    if len(bucket) != 12 or not bucket.isdigit():
        raise ValueError(f"not a bucket: {bucket!r}")
    start = datetime.strptime(bucket, _BUCKET_FORMAT).replace(tzinfo=UTC)
    return start + BUCKET_LENGTH


def payload_key(job_id: str, expires_at: datetime) -> str:
    return validate_key(f"payloads/{bucket_of(expires_at)}/{job_id}")


def result_key(job_id: str, attempt: str, expires_at: datetime) -> str:
    return validate_key(f"results/{bucket_of(expires_at)}/{job_id}.{attempt}")


def template_key(template_id: str) -> str:
    return validate_key(f"templates/{template_id}")


def is_bucket(name: str) -> bool:
    try:
        bucket_end(name)
    except ValueError:
        return False
    return True
