"""Building blocks for a provider adapter's unit tests: image bytes that only need to look
like an image, a job as the runtime hands it over, and an HTTP client answered by a function
(httpx.MockTransport) instead of the network."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from photochanger_contracts import InputImage, Operation, ProviderInput

# only the magic bytes matter to an adapter; the padding stands in for the rest of a file
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x02" * 40
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x03" * 40

Handler = Callable[[httpx.Request], httpx.Response]


def mocked_http(handler: Handler) -> httpx.AsyncClient:
    """A client whose every request is answered by `handler`."""
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def provider_input(
    slot_id: str,
    *,
    operation: Operation = Operation.IMAGE_EDIT,
    settings: Mapping[str, Any],
    photo: InputImage | None = None,
    templates: Sequence[InputImage] = (),
    seconds_left: float = 50,
) -> ProviderInput:
    """A job of `slot_id` with a JPEG photo (unless given) and `seconds_left` to its deadline."""
    return ProviderInput(
        job_id="job-1",
        slot_id=slot_id,
        operation=operation,
        settings=settings,
        photo=photo or InputImage(role="photo", data=JPEG, mime_type="image/jpeg"),
        templates=templates,
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds_left),
    )
