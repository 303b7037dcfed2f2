"""GeminiAdapter: the provider lifecycle mapped onto Gemini's synchronous `generateContent`.

Only HTTP lives here. Retries, deadlines, storage and the processing log belong to the
shared runtime, which reads the `ProviderError` values raised below to decide what to do.
Error messages carry neither the API key nor image data: they end up in job records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pybase64
from photochanger_contracts import (
    PollResult,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
    ProviderResult,
    Submission,
    sniff_image_mime,
)
from photochanger_runtime.providers.answers import (
    bad_answer,
    classify_status,
    decode_base64_image,
)
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.http_exchange import (
    ProviderHttp,
    Reply,
    retry_after_seconds,
    with_detail,
)
from photochanger_runtime.providers.inputs import (
    check_accepted,
    framed_prompt,
    images_in_order,
    slot_settings,
)
from pydantic import ValidationError

from .settings import GEMINI_MODELS_WITH_IMAGE_SIZE, GeminiSettings
from .wire import (
    Content,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    GoogleErrorBody,
    GoogleErrorStatus,
    ImageConfig,
    InlineData,
    Part,
    SafetySetting,
)

ACCEPTED_MIME_TYPES: Final = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"}
)
#: a 4K PNG in base64 stays well below this; anything larger is not an answer we want
MAX_RESPONSE_BYTES: Final = 40 * 1024 * 1024
MAX_IMAGE_BYTES: Final = 30 * 1024 * 1024

#: finish reasons that mean "the model refused", as opposed to "try again"
BLOCKING_FINISH_REASONS: Final = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)

_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


@dataclass(frozen=True, slots=True)
class PreparedGenerateContent:
    """A ready `generateContent` call: serialized once, re-sent as is on every retry."""

    model: str
    body: bytes = field(repr=False)


class GeminiAdapter:
    provider_id: str = "gemini"
    needs_public_urls: bool = False
    accepted_mime_types: frozenset[str] = ACCEPTED_MIME_TYPES
    #: the answer comes with the submit call; nothing is ever polled
    poll_interval_seconds: float = 0.0

    def __init__(
        self,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        *,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_image_bytes: int = MAX_IMAGE_BYTES,
    ) -> None:
        self._config = config
        # every Gemini URL is built from the configured base_url
        self._http = ProviderHttp(self.provider_id, config, http, url_label="base_url")
        self._base_url = config.base_url.rstrip("/")
        self._max_response_bytes = max_response_bytes
        self._max_image_bytes = max_image_bytes

    # -- the ProviderAdapter protocol ---------------------------------------------------------

    async def prepare_payload(self, job: ProviderInput) -> PreparedGenerateContent:
        self._http.api_key()
        settings = slot_settings(self.provider_id, job, GeminiSettings)
        images = images_in_order(job)
        check_accepted(self.provider_id, images, self.accepted_mime_types)
        parts = [Part(text=framed_prompt(job.operation, settings.prompt, len(images)))]
        parts.extend(
            Part(
                inline_data=InlineData(
                    mime_type=image.mime_type, data=pybase64.b64encode_as_string(image.data)
                )
            )
            for image in images
        )
        request = GenerateContentRequest(
            contents=(Content(parts=tuple(parts)),),
            generation_config=GenerationConfig(
                response_modalities=("IMAGE",), image_config=_image_config(settings)
            ),
            safety_settings=tuple(
                SafetySetting(category=s.category, threshold=s.threshold)
                for s in settings.safety_settings
            )
            or None,
        )
        # settings.output.mime_type is not sent: the Gemini API rejects an image
        # responseMimeType, so the result is stored in whatever format the model returns.
        return PreparedGenerateContent(model=settings.model, body=request.to_json())

    async def submit_job(self, prepared: PreparedGenerateContent, *, timeout: float) -> Submission:
        headers = {
            "x-goog-api-key": self._http.api_key(),
            "content-type": "application/json",
            "accept": "application/json",
        }
        url = f"{self._base_url}/v1beta/models/{prepared.model}:generateContent"
        budget = timeout  # the runtime's budget for this call
        reply = await self._http.exchange(
            "POST",
            url,
            content=prepared.body,
            headers=headers,
            timeout=budget,
            cap=self._max_response_bytes,
        )
        if not 200 <= reply.status < 300:
            raise self._http_error(reply)
        return Submission(result=self._result_from(reply.body))

    async def poll_status(self, reference: str, *, timeout: float) -> PollResult:
        raise ProviderError(
            ProviderErrorCode.BAD_RESPONSE, "gemini answers synchronously; there is nothing to poll"
        )

    async def cancel_job(self, reference: str) -> None:
        """No-op: Gemini keeps no remote job. The runtime abandons the in-flight request."""

    # -- reading answers ----------------------------------------------------------------------

    def _result_from(self, body: bytes) -> ProviderResult:
        try:
            answer = GenerateContentResponse.model_validate_json(body)
        except ValidationError as exc:
            raise bad_answer("gemini answer", exc) from None
        feedback = answer.prompt_feedback
        if feedback is not None and feedback.block_reason:
            raise self._http.redacted_error(
                ProviderErrorCode.BLOCKED,
                with_detail("gemini blocked the prompt", feedback.block_reason_message),
                provider_status=feedback.block_reason,
            )
        if not answer.candidates:
            raise ProviderError(
                ProviderErrorCode.NO_IMAGE, "gemini returned no candidates", retryable=True
            )
        candidate = answer.candidates[0]
        parts = candidate.content.parts if candidate.content is not None else ()
        # the first image that is the answer; the pro model may send "thought" images first
        blob = next(
            (
                p.inline_data
                for p in parts
                if p.inline_data is not None
                and not p.thought
                and (p.inline_data.mime_type or "image/").startswith("image/")
            ),
            None,
        )
        reason = candidate.finish_reason
        if blob is None:
            if reason in BLOCKING_FINISH_REASONS:
                raise self._http.redacted_error(
                    ProviderErrorCode.BLOCKED,
                    with_detail(f"gemini refused the image ({reason})", candidate.finish_message),
                    provider_status=reason,
                )
            said = next((p.text for p in parts if p.text and not p.thought), None)
            raise self._http.redacted_error(
                ProviderErrorCode.NO_IMAGE,
                with_detail(f"gemini answered without an image (finishReason {reason})", said),
                retryable=True,
                provider_status=reason,
            )
        # proto JSON writes standard base64, but parsers must also take the URL-safe alphabet
        data = decode_base64_image(self.provider_id, blob.data, max_bytes=self._max_image_bytes)
        mime = sniff_image_mime(data[:32])
        if mime is None:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                f"gemini sent bytes that are not an image (declared {blob.mime_type})",
            )
        usage = answer.usage_metadata.model_dump(exclude_none=True) if answer.usage_metadata else {}
        return ProviderResult(data=data, mime_type=mime.value, usage=usage)

    def _http_error(self, reply: Reply) -> ProviderError:
        status = reply.status
        google = _google_error(reply.body)
        code, retryable = _classify(status, google)
        retry_after = None
        if retryable:
            retry_after = retry_after_seconds(reply.headers) or _retry_info_delay(google.details)
        said = google.message or f"HTTP {status}"
        return self._http.redacted_error(
            code,
            f"gemini answered HTTP {status} {google.status or ''}".rstrip() + f": {said}",
            retryable=retryable,
            retry_after_seconds=retry_after,
            http_status=status,
            provider_status=google.status,
        )


# -- preparing requests ---------------------------------------------------------------------


def _image_config(settings: GeminiSettings) -> ImageConfig | None:
    wanted = settings.image_config
    size = wanted.image_size if settings.model in GEMINI_MODELS_WITH_IMAGE_SIZE else None
    if wanted.aspect_ratio is None and size is None:
        return None
    return ImageConfig(aspect_ratio=wanted.aspect_ratio, image_size=size)


# -- reading errors -------------------------------------------------------------------------


def _classify(status: int, google: GoogleErrorStatus) -> tuple[ProviderErrorCode, bool]:
    """Which ProviderError an HTTP error answer is, and whether another attempt may help."""
    if status == 400 and _error_reason(google.details) == "API_KEY_INVALID":
        return ProviderErrorCode.AUTH_FAILED, False  # Google answers a bad key with a 400
    if status == 429:
        # a daily quota does not come back within any job's deadline
        return ProviderErrorCode.QUOTA_EXHAUSTED, not _daily_quota(google.details)
    if status == 499:  # CANCELLED on Google's side
        return ProviderErrorCode.UNAVAILABLE, True
    if status == 501:  # UNIMPLEMENTED: asking again will not implement it
        return ProviderErrorCode.REJECTED, False
    return classify_status(status)


def _google_error(body: bytes) -> GoogleErrorStatus:
    """The `error` object of the body, or an empty one when the body is something else."""
    try:
        return GoogleErrorBody.model_validate_json(body).error
    except ValidationError:
        return GoogleErrorStatus()


def _details_of(details: Sequence[Mapping[str, Any]], rpc_type: str) -> list[Mapping[str, Any]]:
    return [d for d in details if str(d.get("@type", "")).endswith(f"google.rpc.{rpc_type}")]


def _error_reason(details: Sequence[Mapping[str, Any]]) -> str | None:
    for info in _details_of(details, "ErrorInfo"):
        reason = info.get("reason")
        if isinstance(reason, str):
            return reason
    return None


def _daily_quota(details: Sequence[Mapping[str, Any]]) -> bool:
    for failure in _details_of(details, "QuotaFailure"):
        violations = failure.get("violations")
        if isinstance(violations, list):
            for violation in violations:
                quota_id = violation.get("quotaId") if isinstance(violation, dict) else None
                if isinstance(quota_id, str) and "PerDay" in quota_id:
                    return True
    return False


def _retry_info_delay(details: Sequence[Mapping[str, Any]]) -> float | None:
    """`google.rpc.RetryInfo.retryDelay`, a protobuf Duration in JSON form such as "7s"."""
    for info in _details_of(details, "RetryInfo"):
        delay = info.get("retryDelay")
        match = _RETRY_DELAY.match(delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None
