"""OpenAIAdapter: the provider lifecycle mapped onto GPT Image's synchronous `images/edits`.

One multipart request carries the photo and the slot's template images (`image[]`), the
prompt and the slot's options; the answer carries the edited image as `b64_json` and the
token usage. Only HTTP lives here: retries, deadlines, storage and the processing log belong
to the shared runtime, which reads the `ProviderError` values raised below. Error messages
carry neither the API key nor image data: they end up in job records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import httpx
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
        settings = slot_settings(self.provider_id, job, OpenAISettings)
        # GPT Image keeps the first image's details best: the photo goes first
        images = images_in_order(job)
        check_accepted(self.provider_id, images, self.accepted_mime_types)
        form = ImageEditForm(
            prompt=framed_prompt(job.operation, settings.prompt, len(images)),
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
            raise bad_answer("openai answer", exc) from None
        encoded = next((d.b64_json for d in answer.data if d.b64_json), None)
        if encoded is None:
            raise ProviderError(
                ProviderErrorCode.NO_IMAGE, "openai answered without an image", retryable=True
            )
        data = decode_base64_image(self.provider_id, encoded, max_bytes=self._max_image_bytes)
        mime = sniff_image_mime(data[:32])
        if mime is None:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                f"openai sent bytes that are not an image (declared {answer.output_format})",
            )
        usage = answer.usage.figures() if answer.usage is not None else {}
        return ProviderResult(data=data, mime_type=mime.value, usage=usage)

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


def _extension(mime_type: str) -> str:
    return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[mime_type]


# -- reading errors -------------------------------------------------------------------------


def classify(status: int, error: OpenAIErrorDetail) -> tuple[ProviderErrorCode, bool]:
    """Which ProviderError an HTTP error answer is, and whether another attempt may help."""
    if error.code in CONTENT_POLICY_CODES:
        return ProviderErrorCode.BLOCKED, False  # the safety system said no: not again
    if status == 429:
        billing = error.code in BILLING_CODES or error.type in BILLING_CODES
        return ProviderErrorCode.QUOTA_EXHAUSTED, not billing
    return classify_status(status)


def _error_detail(body: bytes) -> OpenAIErrorDetail:
    """The `error` object of the body, or an empty one when the body is something else."""
    try:
        return OpenAIErrorBody.model_validate_json(body).error
    except ValidationError:
        return OpenAIErrorDetail()
