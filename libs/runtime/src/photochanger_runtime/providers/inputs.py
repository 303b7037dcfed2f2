"""What every adapter does with a job before it speaks its provider's wire format.

Pure helpers over `ProviderInput`: the slot settings as the provider's own model, the
templates an operation needs, the order images are sent in, the MIME check and the prompt
framing that tells a model which image is which. A refusal is a `ProviderError` the runtime
records on the job; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, TypeVar

from photochanger_contracts import (
    InputImage,
    Operation,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
    SlotSettingsError,
    validate_slot_settings,
)
from photochanger_contracts.slots import REQUIRED_TEMPLATE_ROLES
from pydantic import BaseModel

_Settings = TypeVar("_Settings", bound=BaseModel)

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


def slot_settings(provider_id: str, job: ProviderInput, model: type[_Settings]) -> _Settings:
    """The job's slot settings validated by the provider's catalogue model."""
    try:
        settings = validate_slot_settings(provider_id, job.operation, dict(job.settings))
    except SlotSettingsError as exc:
        raise ProviderError(ProviderErrorCode.INVALID_SLOT_SETTINGS, str(exc)) from None
    if not isinstance(settings, model):  # the catalogue and the adapter disagree: a bug
        raise TypeError(f"{provider_id} settings are {type(settings).__name__}, not {model}")
    return settings


def required_template(job: ProviderInput, role: str) -> InputImage:
    template = job.template(role)
    if template is None:
        raise ProviderError(
            ProviderErrorCode.INVALID_SLOT_SETTINGS,
            f"{job.operation} needs a template with role {role!r}",
        )
    return template


def images_in_order(job: ProviderInput) -> list[InputImage]:
    """The photo first (models keep the first image's details best), then the templates the
    operation needs, then any other templates."""
    required = REQUIRED_TEMPLATE_ROLES[job.operation]
    leading = [required_template(job, role) for role in required]
    rest = [t for t in job.templates if t.role not in required]
    return [job.photo, *leading, *rest]


def check_accepted(
    provider_id: str, images: Iterable[InputImage], accepted: frozenset[str]
) -> None:
    for image in images:
        if image.mime_type not in accepted:
            raise ProviderError(
                ProviderErrorCode.UNSUPPORTED_INPUT,
                f"{provider_id} does not accept {image.mime_type} ({image.role})",
            )


def framed_prompt(operation: Operation, prompt: str, image_count: int) -> str:
    """The admin's prompt after the framing of the operation's images."""
    prompt = prompt.strip()
    if operation is Operation.IMAGE_EDIT:
        framing, framed_images = "", 1
    elif operation is Operation.STYLE_TRANSFER:
        framing, framed_images = STYLE_TRANSFER_FRAMING, 2
    else:
        framing, framed_images = IDENTITY_TRANSFER_FRAMING, 2
    extra = EXTRA_REFERENCES_NOTE if image_count > framed_images else ""
    return " ".join(text for text in (framing, extra, prompt) if text)
