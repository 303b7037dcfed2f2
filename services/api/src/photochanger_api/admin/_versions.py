"""ETag / If-Match for versioned documents (slots, settings)."""

from __future__ import annotations

from photochanger_contracts import ErrorCode

from ..errors import ApiError


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str, current: int) -> int:
    """The version an If-Match header names; 412 when it is not the current one."""
    value = if_match.strip().removeprefix("W/").strip('"')
    if value.isdigit() and int(value) == current:
        return current
    raise ApiError(
        ErrorCode.VERSION_CONFLICT,
        "the resource changed since it was read; fetch it again and reapply the edit",
        {"current_version": current, "if_match": if_match[:100]},
        headers={"ETag": etag(current)},
    )
