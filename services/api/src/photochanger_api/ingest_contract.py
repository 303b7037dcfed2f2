"""What `POST /ingest/{slot_id}` takes and answers, for the published OpenAPI document: the
multipart form DSLR Remote Pro and other booths send, the image answer with its headers, and
every error in the one envelope."""

from __future__ import annotations

from typing import Any

from .admin.views import ErrorEnvelope

_IMAGE = {"schema": {"type": "string", "format": "binary"}}

_ERRORS: dict[int, str] = {
    400: "`malformed_request` (unreadable multipart, bad Idempotency-Key) or `file_missing`",
    401: "`invalid_password`: wrong or missing ingest password (or a revoked client key)",
    403: "`forbidden`: a client key given as the password is not bound to this slot",
    404: "`slot_not_found`: not one of slot-001 … slot-015",
    408: "`request_timeout`: the body did not arrive within the body deadline",
    409: "`slot_inactive`, `job_cancelled`, or `idempotency_in_progress` (Retry-After)",
    413: "`payload_too_large`: photo or request body larger than the limit",
    415: "`unsupported_media_type`: not multipart/form-data, or not a JPEG, PNG or WebP image",
    422: "`slot_not_configured` for its provider, or `idempotency_key_reused` with another body",
    429: "`at_capacity` / `too_many_attempts`: platform or provider at capacity, too many "
    "uploads or wrong passwords from this address, or a client key over its rate (Retry-After)",
    502: "`provider_error`: the provider failed (details.provider_code)",
    503: "`service_unavailable`: broker, database or media store unavailable, or the api is "
    "restarting (Retry-After; details.result_url when the job goes on)",
    504: "`deadline_exceeded`: no result before the deadline; details carry job_id and expires_at",
}

INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the processed image",
        "content": {"image/png": _IMAGE, "image/jpeg": _IMAGE, "image/webp": _IMAGE},
        "headers": {
            "X-Job-Id": {"schema": {"type": "string", "format": "uuid"}},
            "X-Result-Url": {
                "description": "downloads the result again until it expires (72 h); absent "
                "when this request joined another's job",
                "schema": {"type": "string"},
            },
            "X-Joined-Job": {
                "description": "`true` when the same photo was already being processed for "
                "this slot and this request got that job's result",
                "schema": {"type": "string", "enum": ["true"]},
            },
        },
    },
    **{status: {"model": ErrorEnvelope, "description": text} for status, text in _ERRORS.items()},
}

INGEST_EXTRA: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "the same key and body within 24 h answer with the same job",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["password"],
                    "properties": {
                        "password": {
                            "type": "string",
                            "description": "the ingest password, or this booth's client key",
                        },
                        "fileToUpload": {
                            "type": "string", "format": "binary",
                            "description": "the photo (DSLR Remote Pro's field name)",
                        },
                        "file": {
                            "type": "string", "format": "binary",
                            "description": "the photo, under its other accepted name",
                        },
                        "hash": {
                            "type": "string",
                            "description": "hex MD5, SHA-1 or SHA-256 of the photo (a mismatch "
                            "is logged, never fatal)",
                        },
                    },
                    "additionalProperties": {
                        "type": "string", "description": "kept with the job as metadata",
                    },
                },
                "encoding": {
                    "fileToUpload": {"contentType": "image/jpeg, image/png, image/webp"},
                    "file": {"contentType": "image/jpeg, image/png, image/webp"},
                },
            }
        },
    },
}  # fmt: skip
