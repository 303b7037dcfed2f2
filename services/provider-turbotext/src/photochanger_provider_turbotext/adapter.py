"""TurbotextAdapter: the provider lifecycle mapped onto Turbotext's queue API.

`create_queue` starts a (billed) remote job and answers with a queue id; `get_result` is
asked until it stops saying "reconnect"; the finished image is downloaded from the URL it
names. Only HTTP lives here: the runtime paces the polls, stores the reference before the
first poll and decides about retries from the `ProviderError` values raised below.
Error messages carry neither the API key nor image data: they end up in job records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

import httpx
from photochanger_contracts import (
    InputImage,
    Operation,
    PollResult,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
    ProviderResult,
    Submission,
    sniff_image_mime,
)
from photochanger_runtime.providers.answers import bad_answer, classify_status
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.http_exchange import (
    MESSAGE_LIMIT,
    ProviderHttp,
    Reply,
    retry_after_seconds,
    with_detail,
)
from photochanger_runtime.providers.inputs import required_template, slot_settings
from photochanger_runtime.providers.url_policy import UnsafeUrl, UrlPolicy
from pydantic import BaseModel, ValidationError

from .settings import TurbotextSettings
from .wire import (
    METHOD_FOR_OPERATION,
    CreateQueueAnswer,
    DeepfakePhotoForm,
    ErrorAnswer,
    GetResultAnswer,
    Image2ImageForm,
    Method,
    MixImagesForm,
)

ACCEPTED_MIME_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp"})
#: JSON answers are a few hundred bytes; a megabyte means something else is talking
MAX_ANSWER_BYTES: Final = 1024 * 1024
MAX_IMAGE_BYTES: Final = 25 * 1024 * 1024
#: redirects a result download follows, each checked like the first URL
MAX_REDIRECTS: Final = 3
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})

_METHOD_BY_NAME: Final[dict[str, Method]] = {m: m for m in METHOD_FOR_OPERATION.values()}

_Answer = TypeVar("_Answer", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class TurbotextRequest:
    """A ready `create_queue` call: the method and its form fields (without `do`)."""

    method: Method
    form: Mapping[str, str]


def queue_reference(method: Method, queueid: int) -> str:
    """The reference stored on the job: `get_result` must go to the method that created it."""
    return f"{method}:{queueid}"


def parse_queue_reference(reference: str) -> tuple[Method, int]:
    name, _, queueid = reference.partition(":")
    method = _METHOD_BY_NAME.get(name)
    if method is None or not queueid.isdigit():
        raise ProviderError(
            ProviderErrorCode.BAD_RESPONSE, f"not a turbotext queue reference: {reference[:80]!r}"
        )
    return method, int(queueid)


class TurbotextAdapter:
    provider_id: str = "turbotext"
    #: Turbotext fetches its inputs itself, from links the runtime creates
    needs_public_urls: bool = True
    accepted_mime_types: frozenset[str] = ACCEPTED_MIME_TYPES
    poll_interval_seconds: float

    def __init__(
        self,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        *,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        max_image_bytes: int = MAX_IMAGE_BYTES,
    ) -> None:
        self._config = config
        # "URL", not "base_url": result downloads go to URLs the answers name
        self._http = ProviderHttp(self.provider_id, config, http, url_label="URL")
        self._base_url = config.base_url.rstrip("/")
        self._urls = UrlPolicy(
            allowed_hosts=config.result_hosts or (httpx.URL(self._base_url).host,),
            trusted_local_origins=config.trusted_local_origins,
        )
        self._max_answer_bytes = max_answer_bytes
        self._max_image_bytes = max_image_bytes
        self.poll_interval_seconds = config.poll_interval_seconds

    # -- the ProviderAdapter protocol ---------------------------------------------------------

    async def prepare_payload(self, job: ProviderInput) -> TurbotextRequest:
        self._http.api_key()
        settings = slot_settings(self.provider_id, job, TurbotextSettings)
        photo = self._public_url(job.photo)
        form: Image2ImageForm | MixImagesForm | DeepfakePhotoForm
        if job.operation is Operation.IMAGE_EDIT:
            form = Image2ImageForm(
                url=photo,
                content=settings.prompt,
                strength=settings.strength,
                seed=settings.seed,
                scale=settings.scale,
                negative_prompt=settings.negative_prompt,
                original_language=settings.original_language,
            )
        elif job.operation is Operation.STYLE_TRANSFER:
            # mix_images restyles url_image_target after the picture at url
            form = MixImagesForm(
                url_image_target=photo,
                url=self._public_url(required_template(job, "style")),
                content=settings.prompt,
            )
        else:
            # deepfake_photo puts the face of url_image_target into the picture at url
            form = DeepfakePhotoForm(
                url=self._public_url(required_template(job, "base")),
                url_image_target=photo,
                face_restore=settings.face_restore,
            )
        return TurbotextRequest(method=METHOD_FOR_OPERATION[job.operation], form=form.fields())

    async def submit_job(self, prepared: TurbotextRequest, *, timeout: float) -> Submission:
        reply = await self._call_api(
            prepared.method, {"do": "create_queue", **prepared.form}, timeout=timeout
        )
        answer = self._parse(CreateQueueAnswer, reply.body, "create_queue")
        if not answer.success:
            raise self._http.redacted_error(
                ProviderErrorCode.REJECTED,
                with_detail(f"turbotext refused {prepared.method}", answer.error),
                http_status=reply.status,
            )
        if answer.queueid is None:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE, "turbotext create_queue answer has no queueid"
            )
        return Submission(reference=queue_reference(prepared.method, answer.queueid))

    async def poll_status(self, reference: str, *, timeout: float) -> PollResult:
        method, queueid = parse_queue_reference(reference)
        reply = await self._call_api(
            method, {"do": "get_result", "queueid": str(queueid)}, timeout=timeout
        )
        answer = self._parse(GetResultAnswer, reply.body, "get_result")
        if answer.action == "reconnect":
            return PollResult(done=False)
        if answer.success is False:
            raise self._http.redacted_error(
                ProviderErrorCode.JOB_FAILED,
                with_detail(f"turbotext {method} job {queueid} failed", answer.error),
            )
        image_url = answer.image_url()
        if answer.success is not True or not image_url:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE,
                "turbotext get_result answer is neither reconnect, a result nor a failure",
            )
        return PollResult(done=True, result=await self._download(image_url, timeout=timeout))

    async def cancel_job(self, reference: str) -> None:
        """No-op: Turbotext has no cancel call. The runtime stops polling; the job runs out."""

    # -- requests -----------------------------------------------------------------------------

    def _public_url(self, image: InputImage) -> str:
        if image.mime_type not in self.accepted_mime_types:
            raise ProviderError(
                ProviderErrorCode.UNSUPPORTED_INPUT,
                f"turbotext does not accept {image.mime_type} ({image.role})",
            )
        if not image.public_url:
            raise ProviderError(
                ProviderErrorCode.UNSUPPORTED_INPUT,
                f"turbotext needs a public URL for the {image.role} image",
            )
        return image.public_url

    async def _call_api(self, method: Method, form: dict[str, str], *, timeout: float) -> Reply:
        reply = await self._http.exchange(
            "POST",
            f"{self._base_url}/api_ai/{method}",
            data=form,
            headers={
                "authorization": f"Bearer {self._http.api_key()}",
                "accept": "application/json",
            },
            timeout=timeout,  # the runtime's budget for this call
            cap=self._max_answer_bytes,
        )
        if not 200 <= reply.status < 300:
            raise self._http_error(reply, f"turbotext {method}", ProviderErrorCode.REJECTED)
        return reply

    async def _download(self, location: str, *, timeout: float) -> ProviderResult:
        """The result image at the URL an answer named: each hop checked by the URL policy
        (redirects are followed by hand, a few at most), the key sent to Turbotext's own
        origin only, nothing of a refused or failed download's body echoed anywhere."""
        base = httpx.URL(self._base_url + "/")
        url = _join(base, location)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(MAX_REDIRECTS + 1):
            try:
                await self._urls.check(url)
            except UnsafeUrl as exc:
                raise _refused(exc) from None
            headers = {"accept": "image/*"}
            # The key goes only to Turbotext's own origin, never to a host an answer names.
            if (url.scheme, url.netloc) == (base.scheme, base.netloc):
                headers["authorization"] = f"Bearer {self._http.api_key()}"

            def check_peer(response: httpx.Response, url: httpx.URL = url) -> None:
                self._urls.check_peer(url, response)

            try:
                reply = await self._http.exchange(
                    "GET", str(url), headers=headers, cap=self._max_image_bytes,
                    timeout=max(0.1, deadline - loop.time()),  # the runtime's budget for it
                    before_body=check_peer,
                )  # fmt: skip
            except UnsafeUrl as exc:
                raise _refused(exc) from None
            if reply.status in _REDIRECTS and reply.headers.get("location"):
                url = _join(url, reply.headers["location"])
                continue
            if not 200 <= reply.status < 300:
                raise ProviderError(
                    ProviderErrorCode.BAD_RESPONSE,
                    f"turbotext result download answered HTTP {reply.status}",
                    retryable=reply.status >= 500 or reply.status == 429,
                    http_status=reply.status,
                )
            mime = sniff_image_mime(reply.body[:32])
            if mime is None:
                raise ProviderError(
                    ProviderErrorCode.BAD_RESPONSE, "turbotext result is not an image"
                )
            return ProviderResult(data=reply.body, mime_type=mime.value)
        raise ProviderError(
            ProviderErrorCode.BAD_RESPONSE,
            f"turbotext result download redirected more than {MAX_REDIRECTS} times",
        )

    # -- answers ------------------------------------------------------------------------------

    def _parse(self, model: type[_Answer], body: bytes, call: str) -> _Answer:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise bad_answer(f"turbotext {call} answer", exc) from None

    def _http_error(
        self, reply: Reply, call: str, client_error: ProviderErrorCode
    ) -> ProviderError:
        status = reply.status
        code, retryable = classify_status(status, client_error=client_error)
        retry_after = retry_after_seconds(reply.headers) if retryable else None
        said = _error_text(reply.body)
        return self._http.redacted_error(
            code,
            with_detail(f"{call} answered HTTP {status}", said),
            retryable=retryable,
            retry_after_seconds=retry_after,
            http_status=status,
        )


def _join(base: httpx.URL, location: str) -> httpx.URL:
    try:
        url = base.join(location.strip())
    except httpx.InvalidURL:
        url = None
    if url is None or not url.host:
        raise ProviderError(
            ProviderErrorCode.BAD_RESPONSE, "turbotext named an unusable result URL"
        )
    return url


def _refused(exc: UnsafeUrl) -> ProviderError:
    """A result URL we do not fetch: the reason goes to the processing log (admins), the
    booth sees only the provider code."""
    return ProviderError(
        ProviderErrorCode.BAD_RESPONSE, f"turbotext result URL refused: {exc}"[:MESSAGE_LIMIT]
    )


def _error_text(body: bytes) -> str | None:
    try:
        answer = ErrorAnswer.model_validate_json(body)
    except ValidationError:
        return None
    said = answer.error or answer.message
    return str(said) if said else None
