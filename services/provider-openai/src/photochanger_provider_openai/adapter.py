"""OpenAIAdapter: the provider lifecycle mapped onto GPT Image's synchronous `images/edits`.

One multipart request carries the photo and the slot's template images (`image[]`), the
prompt and the slot's options; the answer carries the edited image as `b64_json` and the
token usage. Only HTTP lives here: retries, deadlines, storage and the processing log belong
to the shared runtime, which reads the `ProviderError` values raised below. Error messages
carry neither the API key nor image data: they end up in job records.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Final

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

from .settings import MODELS_WITH_INPUT_FIDELITY, OpenAISettings
from .wire import IMAGE_FIELD, ImageEditForm, ImagesResponse, OpenAIErrorBody, OpenAIErrorDetail

ACCEPTED_MIME_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp"})
#: a 1536x1024 PNG in base64 is a few MB; anything much larger is not an answer we want
MAX_RESPONSE_BYTES: Final = 40 * 1024 * 1024
MAX_IMAGE_BYTES: Final = 30 * 1024 * 1024

#: error codes of a refusal by OpenAI's safety system (not worth a retry, nor a fallback)
CONTENT_POLICY_CODES: Final = frozenset({"moderation_blocked", "content_policy_violation"})
#: a 429 for money, not for pace: it does not come back within any job's deadline
BILLING_CODES: Final = frozenset({"insufficient_quota", "billing_hard_limit_reached"})

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


@dataclass(frozen=True, slots=True)
class PreparedImageEdit:
    """A ready `images/edits` call: the multipart body encoded once, re-sent on every retry."""

    model: str
    content_type: str
    body: bytes = field(repr=False)


class OpenAIAdapter:
    provider_id: str = "openai"
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
        self._http = ProviderHttp(self.provider_id, config, http, url_label="base_url")
        self._base_url = config.base_url.rstrip("/")
        self._max_response_bytes = max_response_bytes
        self._max_image_bytes = max_image_bytes

    # -- the ProviderAdapter protocol ---------------------------------------------------------

    async def prepare_payload(self, job: ProviderInput) -> PreparedImageEdit:
        self._http.api_key()
        settings = _openai_settings(job)
        images = _images_in_order(job)
        for image in images:
            if image.mime_type not in self.accepted_mime_types:
                raise ProviderError(
                    ProviderErrorCode.UNSUPPORTED_INPUT,
                    f"openai does not accept {image.mime_type} ({image.role})",
                )
        form = ImageEditForm(
            prompt=_framed_prompt(job.operation, settings.prompt, len(images)),
            model=settings.model,
            size=settings.size,
            quality=settings.quality,
            output_format=settings.output_format,
            output_compression=settings.output_compression,
            background=settings.background,
            input_fidelity=(
                settings.input_fidelity if settings.model in MODELS_WITH_INPUT_FIDELITY else None
            ),
            moderation=settings.moderation,
        )
        files = [
            (IMAGE_FIELD, (f"{image.role}-{n}.{_extension(image.mime_type)}", image.data,
                           image.mime_type))
            for n, image in enumerate(images, start=1)
        ]  # fmt: skip
        # httpx writes the multipart body (boundary included) exactly as it will be sent
        request = httpx.Request("POST", self._base_url, data=form.fields(), files=files)
        return PreparedImageEdit(
            model=settings.model,
            content_type=request.headers["content-type"],
            body=request.read(),
        )

    async def submit_job(self, prepared: PreparedImageEdit, *, timeout: float) -> Submission:
        headers = {
            "authorization": f"Bearer {self._http.api_key()}",
            "content-type": prepared.content_type,
            "accept": "application/json",
        }
        reply = await self._http.exchange(
            "POST",
            f"{self._base_url}/v1/images/edits",
            content=prepared.body,
            headers=headers,
            timeout=min(self._config.request_timeout_seconds, timeout),
            cap=self._max_response_bytes,
        )
        if not 200 <= reply.status < 300:
            raise self._http_error(reply)
        return Submission(result=self._result_from(reply.body))

    async def poll_status(self, reference: str, *, timeout: float) -> PollResult:
        raise ProviderError(
            ProviderErrorCode.BAD_RESPONSE, "openai answers synchronously; there is nothing to poll"
        )

    async def cancel_job(self, reference: str) -> None:
        """No-op: an image edit is one request; the runtime abandons it in flight."""

    # -- reading answers ----------------------------------------------------------------------

    def _result_from(self, body: bytes) -> ProviderResult:
        try:
            answer = ImagesResponse.model_validate_json(body)
        except ValidationError as exc:
            # never str(exc): it quotes the input, which may be megabytes of base64
            first = exc.errors(include_input=False, include_url=False)[0]
            problem = (
                "is not valid JSON"
                if first["type"] == "json_invalid"
                else "has an unexpected shape at "
                + (".".join(str(p) for p in first["loc"]) or "body")
            )
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE, f"openai answer {problem}"
            ) from None
        encoded = next((d.b64_json for d in answer.data if d.b64_json), None)
        if encoded is None:
            raise ProviderError(
                ProviderErrorCode.NO_IMAGE, "openai answered without an image", retryable=True
            )
        data = self._decode_image(encoded)
        mime = sniff_image_mime(data[:32])
        if mime is None:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                f"openai sent bytes that are not an image (declared {answer.output_format})",
            )
        usage = answer.usage.figures() if answer.usage is not None else {}
        return ProviderResult(data=data, mime_type=mime.value, usage=usage)

    def _decode_image(self, encoded: str) -> bytes:
        if len(encoded) // 4 * 3 > self._max_image_bytes + 3:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                f"openai image is larger than {self._max_image_bytes} bytes",
            )
        try:
            data = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE, "openai image data is not valid base64"
            ) from None
        if not data:
            raise ProviderError(ProviderErrorCode.BAD_RESPONSE, "openai image data is empty")
        return data

    def _http_error(self, reply: Reply) -> ProviderError:
        status = reply.status
        error = _error_detail(reply.body)
        code, retryable = classify(status, error)
        retry_after = retry_after_seconds(reply.headers) if retryable else None
        head = f"openai answered HTTP {status}"
        if error.code or error.type:
            head += f" {error.code or error.type}"
        return self._http.redacted_error(
            code,
            with_detail(head, error.message),
            retryable=retryable,
            retry_after_seconds=retry_after,
            http_status=status,
            provider_status=error.code or error.type,
        )


# -- preparing requests ---------------------------------------------------------------------


def _openai_settings(job: ProviderInput) -> OpenAISettings:
    try:
        settings = validate_slot_settings("openai", job.operation, dict(job.settings))
    except SlotSettingsError as exc:
        raise ProviderError(ProviderErrorCode.INVALID_SLOT_SETTINGS, str(exc)) from None
    assert isinstance(settings, OpenAISettings)
    return settings


def _images_in_order(job: ProviderInput) -> list[InputImage]:
    """The photo first (GPT Image keeps the first image's details best), then the template
    the operation needs, then any other templates."""
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


def _extension(mime_type: str) -> str:
    return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[mime_type]


# -- reading errors -------------------------------------------------------------------------


def classify(status: int, error: OpenAIErrorDetail) -> tuple[ProviderErrorCode, bool]:
    """Which ProviderError an HTTP error answer is, and whether another attempt may help."""
    if error.code in CONTENT_POLICY_CODES:
        return ProviderErrorCode.BLOCKED, False  # the safety system said no: not again
    if status in (401, 403):
        return ProviderErrorCode.AUTH_FAILED, False
    if status == 429:
        billing = error.code in BILLING_CODES or error.type in BILLING_CODES
        return ProviderErrorCode.QUOTA_EXHAUSTED, not billing
    if status == 408:
        return ProviderErrorCode.TIMEOUT, True
    if status == 409 or status >= 500:
        return ProviderErrorCode.UNAVAILABLE, True
    if status >= 400:
        return ProviderErrorCode.REJECTED, False
    return ProviderErrorCode.BAD_RESPONSE, False  # 1xx/3xx: not something we asked for


def _error_detail(body: bytes) -> OpenAIErrorDetail:
    """The `error` object of the body, or an empty one when the body is something else."""
    try:
        return OpenAIErrorBody.model_validate_json(body).error
    except ValidationError:
        return OpenAIErrorDetail()
