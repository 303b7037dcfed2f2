"""What the client raises."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A non-2xx answer: the platform's `{"error": {"code", "message", "details"}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        retry_after: float | None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        #: seconds to wait before retrying, when the platform said so
        self.retry_after = retry_after


class InvalidSignature(Exception):
    """A webhook whose signature or timestamp does not check out."""
