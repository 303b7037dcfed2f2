"""Error codes shared by every service, and the provider error value.

HTTP mapping lives in exactly one place (the api's error envelope module); here an error
is only a code the caller can act on.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # ingest and public HTTP surface
    MALFORMED_REQUEST = "malformed_request"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    REQUEST_TIMEOUT = "request_timeout"
    FILE_MISSING = "file_missing"
    INVALID_PASSWORD = "invalid_password"  # noqa: S105 - an error code, not a secret
    UNAUTHORIZED = "unauthorized"
    SLOT_NOT_FOUND = "slot_not_found"
    SLOT_INACTIVE = "slot_inactive"
    SLOT_NOT_CONFIGURED = "slot_not_configured"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    AT_CAPACITY = "at_capacity"
    SERVICE_UNAVAILABLE = "service_unavailable"
    JOB_NOT_FOUND = "job_not_found"
    JOB_ALREADY_FINAL = "job_already_final"
    JOB_CANCELLED = "job_cancelled"
    PROVIDER_ERROR = "provider_error"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    RESULT_NOT_FOUND = "result_not_found"
    RESULT_EXPIRED = "result_expired"
    MEDIA_NOT_FOUND = "media_not_found"
    MEDIA_EXPIRED = "media_expired"
    VALIDATION_FAILED = "validation_failed"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    INTERNAL = "internal_error"
    # admin HTTP surface
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    VERSION_CONFLICT = "version_conflict"
    MEDIA_IN_USE = "media_in_use"
    CLIENT_KEY_NOT_FOUND = "client_key_not_found"


class ProviderErrorCode(StrEnum):
    """Why a provider call failed; stored on the job and its processing log."""

    NOT_CONFIGURED = "provider_not_configured"
    UNKNOWN_PROVIDER = "unknown_provider"
    INVALID_SLOT_SETTINGS = "invalid_slot_settings"
    UNSUPPORTED_INPUT = "unsupported_input"
    REJECTED = "provider_rejected"
    AUTH_FAILED = "provider_auth_failed"
    QUOTA_EXHAUSTED = "provider_quota_exhausted"
    UNAVAILABLE = "provider_unavailable"
    TIMEOUT = "provider_timeout"
    NO_IMAGE = "provider_no_image"
    BLOCKED = "provider_blocked"
    BAD_RESPONSE = "provider_bad_response"
    JOB_FAILED = "provider_job_failed"
    PUBLISH_FAILED = "publish_failed"


class ProviderError(Exception):
    """A provider call that failed, as a value: what happened and whether a retry may help."""

    def __init__(
        self,
        code: ProviderErrorCode,
        message: str,
        *,
        retryable: bool = False,
        retry_after_seconds: float | None = None,
        http_status: int | None = None,
        provider_status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after_seconds = retry_after_seconds
        self.http_status = http_status
        self.provider_status = provider_status

    def __repr__(self) -> str:
        return f"ProviderError({self.code.value!r}, {self.message!r}, retryable={self.retryable})"
