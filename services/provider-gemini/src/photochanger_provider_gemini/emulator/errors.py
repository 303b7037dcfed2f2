"""Google-style error bodies: ``{"error": {"code", "message", "status", "details"?}}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

_SERVICE = "generativelanguage.googleapis.com"

#: google.rpc.Code names for the HTTP statuses the API answers with.
STATUS_BY_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_CANNED_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    409: "The operation was aborted.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    501: "Operation is not implemented, or supported, or enabled.",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}

_TYPE_PREFIX = "type.googleapis.com/google.rpc."


class GeminiError(Exception):
    """An error answer, raised anywhere while handling a request."""

    def __init__(self, code: int, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "status": STATUS_BY_HTTP.get(self.code, "UNKNOWN"),
        }
        if self.details:
            error["details"] = self.details
        return JSONResponse({"error": error}, status_code=self.code)


def invalid_argument(message: str, field: str | None = None) -> GeminiError:
    """400 INVALID_ARGUMENT, with a BadRequest field violation when ``field`` is known."""
    details = None
    if field is not None:
        details = [
            {
                "@type": _TYPE_PREFIX + "BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return GeminiError(400, message, details)


def missing_api_key() -> GeminiError:
    return GeminiError(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def invalid_api_key() -> GeminiError:
    message = "API key not valid. Please pass a valid API key."
    return GeminiError(
        400,
        message,
        [
            {
                "@type": _TYPE_PREFIX + "ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": _SERVICE},
            },
            {"@type": _TYPE_PREFIX + "LocalizedMessage", "locale": "en-US", "message": message},
        ],
    )


def model_not_found(model: str, method: str = "generateContent") -> GeminiError:
    return GeminiError(
        404,
        f"models/{model} is not found for API version v1beta, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods.",
    )


def emulated(code: int, model: str) -> GeminiError:
    """The error a directive ``error=CODE`` asks for, shaped like the real one."""
    message = _CANNED_MESSAGES.get(code, f"Emulated error {code}.")
    details: list[dict[str, Any]] | None = None
    if code == 429:
        details = [
            {
                "@type": _TYPE_PREFIX + "QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"{_SERVICE}/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": "500",
                    }
                ],
            },
            {"@type": _TYPE_PREFIX + "RetryInfo", "retryDelay": "1s"},
        ]
    return GeminiError(code, message, details)
