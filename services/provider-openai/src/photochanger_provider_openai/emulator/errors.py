"""OpenAI-style error answers: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from starlette.responses import JSONResponse


class OpenAIError(Exception):
    """An error answer, raised anywhere while handling a request."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def invalid(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code or "invalid_value")


def missing_key() -> OpenAIError:
    return OpenAIError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    )


def wrong_key() -> OpenAIError:
    return OpenAIError(
        401, "Incorrect API key provided. You can find your API key in your account settings.",
        code="invalid_api_key",
    )  # fmt: skip


def moderation_blocked() -> OpenAIError:
    return OpenAIError(
        400,
        "Your request was rejected by the safety system. Your request may contain content that "
        "is not allowed by our safety system (emulated).",
        type="image_generation_user_error",
        code="moderation_blocked",
    )


def emulated(status: int, model: str) -> OpenAIError:
    """The error answer the real API gives for `status` (what `error=<status>` asks for)."""
    if status == 429:
        return OpenAIError(
            429,
            f"Rate limit reached for {model} on images per minute (IPM): Limit 5, Used 5, "
            "Requested 1. Please try again in 1s. (emulated)",
            type="requests",
            code="rate_limit_exceeded",
            headers={"retry-after": "1", "x-ratelimit-remaining-requests": "0"},
        )
    if status == 401:
        return wrong_key()
    if status == 403:
        return OpenAIError(403, f"Your organization must be verified to use the model {model}.")
    if status == 404:
        return OpenAIError(404, f"The model {model} does not exist.", code="model_not_found")
    if status == 400:
        return invalid("Invalid value (emulated).", param="prompt")
    if status >= 500:
        return OpenAIError(
            status,
            "The server had an error while processing your request. Sorry about that! (emulated)"
            if status != 503
            else "The engine is currently overloaded, please try again later. (emulated)",
            type="server_error",
            code="server_error" if status != 503 else "server_is_overloaded",
        )
    return OpenAIError(status, f"Emulated error {status}.")
