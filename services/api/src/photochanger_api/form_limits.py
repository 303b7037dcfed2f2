"""What a multipart form may cost before anyone knows who sent it (ingest, admin uploads).

A booth sends a password, a photo, maybe a `hash` and a few fields of its own; metadata is
cut to 1 KiB a value anyway. So a form gets at most `MAX_TEXT_FIELDS` text fields of at most
`MAX_TEXT_FIELD_BYTES` on the wire, of which the first `KEPT_TEXT_BYTES` are kept — as bytes
while the body streams, decoded once the part has ended — and `MAX_PARTS` parts whose headers
are bounded. Per upload in flight that is a few KiB, whatever the characters (before: 64 fields
times 64 KiB decoded to `str`, ~16 MiB with 4-byte characters, times 64 upload slots).

The photo's digests for the client's `hash` are chosen here: by the length of a `hash` sent
before the photo (32 hex: MD5, 40: SHA-1, 64: SHA-256, which the store computes anyway), or
MD5 and SHA-1 both when none came first (it may follow the photo)."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Final

from photochanger_contracts import ErrorCode

from .errors import ApiError

MAX_TEXT_FIELDS: Final = 16
MAX_TEXT_FIELD_BYTES: Final = 8 * 1024
KEPT_TEXT_BYTES: Final = 1024
MAX_FIELD_NAME: Final = 128
MAX_PARTS: Final = 32
MAX_PART_HEADERS: Final = 8
MAX_PART_HEADER_BYTES: Final = 8 * 1024
#: RFC 2046: 1 to 70 characters
MAX_BOUNDARY: Final = 70

#: the names a client's digest of its photo comes under
HASH_FIELDS: Final = ("hash", "hash_hex")
_BY_LENGTH: Final = {32: "md5", 40: "sha1", 64: "sha256"}


def decode(kept: bytes) -> str:
    """UTF-8 text of a kept value; a character cut at the end of the kept bytes is dropped
    (not turned into a replacement character)."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(kept, final=False)


def client_hash(fields: Mapping[str, str]) -> str | None:
    for name in HASH_FIELDS:
        value = fields.get(name, "").strip().lower()
        if value:
            return value
    return None


def algorithm_of(digest: str) -> str | None:
    """The algorithm a hex digest of this length comes from (None: not one we know)."""
    return _BY_LENGTH.get(len(digest))


def digests_for(fields_before_photo: Mapping[str, str]) -> tuple[str, ...]:
    """The digests to compute while the photo streams, besides the store's SHA-256."""
    sent = client_hash(fields_before_photo)
    if sent is None:
        return ("md5", "sha1")
    algorithm = algorithm_of(sent)
    return (algorithm,) if algorithm in ("md5", "sha1") else ()


def hash_matches(sent: str, digests: Mapping[str, str]) -> bool | None:
    """Whether the client's digest is the photo's; None when it cannot be told (unknown
    length, or the digest was not computed)."""
    algorithm = algorithm_of(sent)
    if algorithm is None or algorithm not in digests:
        return None
    return digests[algorithm] == sent


def field_too_large(name: str) -> ApiError:
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        "a form field is larger than the limit",
        {"field": name[:MAX_FIELD_NAME], "max_bytes": MAX_TEXT_FIELD_BYTES},
    )


def too_many(what: str, limit: int) -> ApiError:
    return ApiError(ErrorCode.MALFORMED_REQUEST, f"too many {what} in the form", {"max": limit})


def headers_too_large() -> ApiError:
    return ApiError(
        ErrorCode.MALFORMED_REQUEST,
        "a form part's headers are too large",
        {"max_bytes": MAX_PART_HEADER_BYTES, "max_headers": MAX_PART_HEADERS},
    )
