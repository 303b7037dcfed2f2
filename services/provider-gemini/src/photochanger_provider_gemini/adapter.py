"""GeminiAdapter: the provider lifecycle mapped onto Gemini's synchronous `generateContent`.

Only HTTP lives here. Retries, deadlines, storage and the processing log belong to the
shared runtime, which reads the `ProviderError` values raised below to decide what to do.
Error messages carry neither the API key nor image data: they end up in job records.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from photochanger_contracts import (
    InputImage,
    Operation,
    PollResult,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
    ProviderResult,
    SlotSettingsError,
    Submission,
    sniff_image_mime,
    validate_slot_settings,
)
from photochanger_contracts.slots import REQUIRED_TEMPLATE_ROLES
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.http_exchange import (
    ProviderHttp,
    Reply,
    retry_after_seconds,
    with_detail,
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

# With more than one image the model must be told which is which; image_edit sends the
# prompt unchanged. The admin's prompt follows the framing and may refine it.
STYLE_TRANSFER_FRAMING: Final = (
    "The first image is a photo. The second image is a style reference. Redraw the photo "
    "in the style of the reference, keeping the photo's subject and composition."
)
IDENTITY_TRANSFER_FRAMING: Final = (
    "The first image is a photo of a person. The second image is a base picture. Put the "
    "person from the photo into the base picture in place of its main subject, keeping the "
    "person's face recognisable and the base picture's pose, clothing, framing and background."
)
EXTRA_REFERENCES_NOTE: Final = "Any further images are additional references."

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
        settings = _gemini_settings(job)
        images = _images_in_order(job)
        for image in images:
            if image.mime_type not in self.accepted_mime_types:
                raise ProviderError(
                    ProviderErrorCode.UNSUPPORTED_INPUT,
                    f"gemini does not accept {image.mime_type} ({image.role})",
                )
        parts = [Part(text=_framed_prompt(job.operation, settings.prompt, len(images)))]
        parts.extend(
            Part(
                inline_data=InlineData(
                    mime_type=image.mime_type, data=base64.b64encode(image.data).decode("ascii")
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
            # never str(exc): it quotes the input, which may be megabytes of base64
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE, f"gemini answer {_shape_problem(exc)}"
            ) from None
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
        data = self._decode_image(blob.data)
        mime = sniff_image_mime(data[:32])
        if mime is None:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                f"gemini sent bytes that are not an image (declared {blob.mime_type})",
            )
        usage = answer.usage_metadata.model_dump(exclude_none=True) if answer.usage_metadata else {}
        return ProviderResult(data=data, mime_type=mime.value, usage=usage)

    def _decode_image(self, encoded: str) -> bytes:
        if len(encoded) // 4 * 3 > self._max_image_bytes + 3:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                f"gemini image is larger than {self._max_image_bytes} bytes",
            )
        # proto JSON writes standard base64, but parsers must also take the URL-safe alphabet
        text = encoded.strip().replace("-", "+").replace("_", "/")
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE, "gemini image data is not valid base64"
            ) from None
        if not data:
            raise ProviderError(ProviderErrorCode.BAD_RESPONSE, "gemini image data is empty")
        if len(data) > self._max_image_bytes:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                f"gemini image is larger than {self._max_image_bytes} bytes",
            )
        return data

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


def _gemini_settings(job: ProviderInput) -> GeminiSettings:
    try:
        settings = validate_slot_settings("gemini", job.operation, dict(job.settings))
    except SlotSettingsError as exc:
        raise ProviderError(ProviderErrorCode.INVALID_SLOT_SETTINGS, str(exc)) from None
    assert isinstance(settings, GeminiSettings)
    return settings


def _images_in_order(job: ProviderInput) -> list[InputImage]:
    """The photo, then the template the operation needs, then any other templates."""
    required = REQUIRED_TEMPLATE_ROLES[job.operation]
    leading: list[InputImage] = []
    for role in required:
        template = job.template(role)
        if template is None:
            raise ProviderError(
                ProviderErrorCode.INVALID_SLOT_SETTINGS,
                f"{job.operation} needs a template with role {role!r}",
            )
        leading.append(template)
    rest = [t for t in job.templates if t.role not in required]
    return [job.photo, *leading, *rest]


def _framed_prompt(operation: Operation, prompt: str, image_count: int) -> str:
    prompt = prompt.strip()
    if operation is Operation.IMAGE_EDIT:
        framing, framed_images = "", 1
    elif operation is Operation.STYLE_TRANSFER:
        framing, framed_images = STYLE_TRANSFER_FRAMING, 2
    else:
        framing, framed_images = IDENTITY_TRANSFER_FRAMING, 2
    extra = EXTRA_REFERENCES_NOTE if image_count > framed_images else ""
    return " ".join(text for text in (framing, extra, prompt) if text)


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
    if status in (401, 403):
        return ProviderErrorCode.AUTH_FAILED, False
    if status == 429:
        # a daily quota does not come back within any job's deadline
        return ProviderErrorCode.QUOTA_EXHAUSTED, not _daily_quota(google.details)
    if status == 408:
        return ProviderErrorCode.TIMEOUT, True
    if status in (409, 499):  # ABORTED / CANCELLED on Google's side
        return ProviderErrorCode.UNAVAILABLE, True
    if status == 501:
        return ProviderErrorCode.REJECTED, False
    if status >= 500:
        return ProviderErrorCode.UNAVAILABLE, True
    if status >= 400:
        return ProviderErrorCode.REJECTED, False
    return ProviderErrorCode.BAD_RESPONSE, False  # 1xx/3xx: not something we asked for


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


def _shape_problem(exc: ValidationError) -> str:
    first = exc.errors(include_input=False, include_url=False)[0]
    if first["type"] == "json_invalid":
        return "is not valid JSON"
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"has an unexpected shape at {where}: {first['msg']}"
