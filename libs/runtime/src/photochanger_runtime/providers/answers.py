"""What every adapter does with its provider's answer before it reads the provider's own fields.

Pure helpers: the default meaning of an HTTP error status, a short description of a
malformed answer that never quotes it (answers carry megabytes of base64), and the decoding
of a base64 image with a size bound (pybase64: a camera-sized image decodes in a
tenth of a millisecond instead of the standard library's 2 ms). Adapters add their
provider's special cases on top.
"""

from __future__ import annotations

import binascii

import pybase64
from photochanger_contracts import ProviderError, ProviderErrorCode
from pydantic import ValidationError


def classify_status(
    status: int, *, client_error: ProviderErrorCode = ProviderErrorCode.REJECTED
) -> tuple[ProviderErrorCode, bool]:
    """Which ProviderError an HTTP error status is, and whether another attempt may help."""
    if status in (401, 403):
        return ProviderErrorCode.AUTH_FAILED, False
    if status == 429:
        return ProviderErrorCode.QUOTA_EXHAUSTED, True
    if status == 408:
        return ProviderErrorCode.TIMEOUT, True
    if status == 409 or status >= 500:
        return ProviderErrorCode.UNAVAILABLE, True
    if status >= 400:
        return client_error, False
    return ProviderErrorCode.BAD_RESPONSE, False  # 1xx/3xx: not something we asked for


def shape_problem(exc: ValidationError) -> str:
    """ "is not valid JSON" or where the answer's shape differs from the wire model."""
    first = exc.errors(include_input=False, include_url=False)[0]
    if first["type"] == "json_invalid":
        return "is not valid JSON"
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"has an unexpected shape at {where}: {first['msg']}"


def bad_answer(what: str, exc: ValidationError) -> ProviderError:
    """The error for an answer the wire model refused; never str(exc), which quotes it."""
    return ProviderError(ProviderErrorCode.BAD_RESPONSE, f"{what} {shape_problem(exc)}")


def decode_base64_image(provider_id: str, encoded: str, *, max_bytes: int) -> bytes:
    """Image bytes from base64 in either alphabet, padded or not, at most `max_bytes`."""
    too_large = ProviderError(
        ProviderErrorCode.BAD_RESPONSE, f"{provider_id} image is larger than {max_bytes} bytes"
    )
    if len(encoded) // 4 * 3 > max_bytes + 3:
        raise too_large
    text = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        data = pybase64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(
            ProviderErrorCode.BAD_RESPONSE, f"{provider_id} image data is not valid base64"
        ) from None
    if not data:
        raise ProviderError(ProviderErrorCode.BAD_RESPONSE, f"{provider_id} image data is empty")
    if len(data) > max_bytes:
        raise too_large
    return data
