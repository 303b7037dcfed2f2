"""Public result links: a random token of their own, not the job id.

The job id is in every log line, trace, Kafka key and admin screen, so it must not be what
unlocks a photo. Each job gets a token at ingest: the job id's 16 bytes followed by 24 random
bytes, base64url (54 characters). Only its sha256 is stored (on the job, `JobSpec.
result_token_sha256`); the token itself exists only in the ingest answer (`X-Result-Url`).
Carrying the job id inside the token lets the download find the job by `_id` — no index, no
extra collection, no database command on the ingest path — while the 192 random bits are what
the download checks, in constant time.

Links from before this change named the bare job id; they keep working for the jobs that have
no token hash (made before the upgrade) until those results expire, at most
`result_ttl_hours` (72 h) later. A job made since answers 404 to its bare id (ADR-0015)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid

_SECRET_BYTES = 24
_TOKEN_BYTES = 16 + _SECRET_BYTES


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(job_id: str) -> str:
    raw = uuid.UUID(job_id).bytes + secrets.token_bytes(_SECRET_BYTES)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def job_id_of(token: str) -> str | None:
    """The job a token names (not yet checked), or None for anything that is not a token."""
    if len(token) != 54:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "==")
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _TOKEN_BYTES:
        return None
    return str(uuid.UUID(bytes=raw[:16]))


def matches(token: str, stored_digest: str | None) -> bool:
    return stored_digest is not None and hmac.compare_digest(digest(token), stored_digest)


def is_bare_job_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def result_url(public_base_url: str | None, token: str) -> str:
    return f"{(public_base_url or '').rstrip('/')}/public/results/{token}"
