"""The error envelope and the one mapping from error codes to HTTP statuses.

Every non-200 answer is `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from photochanger_contracts import ErrorCode
from photochanger_runtime.media import MediaUnavailable
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED_REQUEST: 400,
    ErrorCode.FILE_MISSING: 400,
    ErrorCode.INVALID_PASSWORD: 401,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.SLOT_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.RESULT_NOT_FOUND: 404,
    ErrorCode.MEDIA_NOT_FOUND: 404,
    ErrorCode.CLIENT_KEY_NOT_FOUND: 404,
    ErrorCode.SLOT_INACTIVE: 409,
    ErrorCode.JOB_CANCELLED: 409,
    ErrorCode.JOB_ALREADY_FINAL: 409,
    ErrorCode.IDEMPOTENCY_IN_PROGRESS: 409,
    ErrorCode.MEDIA_IN_USE: 409,
    ErrorCode.RESULT_EXPIRED: 410,
    ErrorCode.MEDIA_EXPIRED: 410,
    ErrorCode.VERSION_CONFLICT: 412,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.SLOT_NOT_CONFIGURED: 422,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.AT_CAPACITY: 429,
    ErrorCode.TOO_MANY_ATTEMPTS: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.PROVIDER_ERROR: 502,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
}


def dependency_of(exc: BaseException) -> str:
    if isinstance(exc, PyMongoError):
        return "database"
    return "media" if isinstance(exc, MediaUnavailable) else "broker"


def dependency_unavailable(exc: BaseException) -> ApiError:
    """The 503 for a backing service that failed with `exc`."""
    return ApiError(
        ErrorCode.SERVICE_UNAVAILABLE,
        "a backing service is unavailable, try again shortly",
        {"dependency": dependency_of(exc)},
        headers={"Retry-After": "5"},
    )


class ApiError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers

    @property
    def status_code(self) -> int:
        return HTTP_STATUS[self.code]


#: statuses the framework raises itself (routing, body parsing), as error codes
_FRAMEWORK_CODES: dict[int, ErrorCode] = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    408: ErrorCode.REQUEST_TIMEOUT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def error_response(
    code: ErrorCode | str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    status_code: int | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": str(code), "message": message, "details": details or {}}},
        status_code=status_code or HTTP_STATUS[ErrorCode(code)],
        headers=headers,
    )


def _problem(error: Any) -> dict[str, Any]:
    """One validation problem: the field, a message, and its kind with its limits (`type`,
    `ctx`), so a client (the console) can say it in its own language."""
    problem: dict[str, Any] = {
        "field": ".".join(str(p) for p in error["loc"]),
        "message": error["msg"],
        "type": error["type"],
    }
    ctx = {k: v for k, v in (error.get("ctx") or {}).items() if isinstance(v, (int, float, str))}
    if ctx:
        problem["ctx"] = ctx
    return problem


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.code, exc.message, exc.details, exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [_problem(e) for e in exc.errors()]
        return error_response(
            ErrorCode.VALIDATION_FAILED, "request validation failed", {"problems": problems}
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        headers = dict(exc.headers or {})  # e.g. Allow on a 405
        if status == 404:
            return error_response("not_found", "no such route", status_code=404, headers=headers)
        code = _FRAMEWORK_CODES.get(status)
        if code is None:
            code = ErrorCode.MALFORMED_REQUEST if status < 500 else ErrorCode.INTERNAL
        details = {"allowed": headers["Allow"].split(", ")} if "Allow" in headers else {}
        return error_response(code, str(exc.detail), details, headers, status_code=status)

    async def on_dependency_down(request: Request, exc: Exception) -> JSONResponse:
        return await on_api_error(request, dependency_unavailable(exc))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(PyMongoError, on_dependency_down)
    app.add_exception_handler(KafkaError, on_dependency_down)
    app.add_exception_handler(MediaUnavailable, on_dependency_down)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        # a bug: the client still gets the envelope; the server logs the traceback
        return error_response(ErrorCode.INTERNAL, "internal error", {})

    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
