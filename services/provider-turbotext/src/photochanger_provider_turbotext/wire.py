"""Pydantic models of the Turbotext `api_ai` forms and answers.

Turbotext takes `application/x-www-form-urlencoded` bodies, so every request model turns
into flat string fields; unset optional fields are left out rather than sent empty.
Answers are JSON; unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from photochanger_contracts import Operation
from pydantic import BaseModel, ConfigDict, Field

Method = Literal["generate_image2image", "mix_images", "deepfake_photo"]

METHOD_FOR_OPERATION: Final[dict[Operation, Method]] = {
    Operation.IMAGE_EDIT: "generate_image2image",
    Operation.STYLE_TRANSFER: "mix_images",
    Operation.IDENTITY_TRANSFER: "deepfake_photo",
}


class _Form(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def fields(self) -> dict[str, str]:
        """The form fields in declaration order, without the ones left unset."""
        return {
            name: _form_value(value) for name, value in self.model_dump(exclude_none=True).items()
        }


class Image2ImageForm(_Form):
    url: str
    content: str
    strength: int | None = None
    seed: int | None = None
    scale: float | None = None
    negative_prompt: str | None = None
    original_language: str | None = None


class MixImagesForm(_Form):
    """`mix_images`, as Turbotext's method description has it: the picture to process in
    `url_image_target`, the picture whose style is taken in `url`."""

    #: the photo to restyle (the booth photo)
    url_image_target: str
    #: the style source (the slot's style template)
    url: str
    content: str


class DeepfakePhotoForm(_Form):
    """`deepfake_photo`: the picture whose face is replaced in `url`, the face to put in
    `url_image_target`."""

    #: the picture the face goes into (the slot's base template)
    url: str
    #: the face to put in (the booth photo)
    url_image_target: str
    face_restore: bool | None = None


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        # "1"/"0", not "true"/"false": PHP reads the string "false" as true
        return "1" if value else "0"
    return str(value)


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CreateQueueAnswer(_Answer):
    """`do=create_queue` → `{"success": true, "queueid": N}` or `{"success": false, ...}`."""

    success: bool
    queueid: int | None = Field(default=None, ge=0)
    error: Any = None


class ResultData(_Answer):
    uploaded_image: str | None = None
    #: `deepfake_photo` lists its pictures here
    image: list[str] | None = None


class GetResultAnswer(_Answer):
    """`do=get_result` → `{"action": "reconnect"}` while working, then success or failure."""

    action: str | None = None
    success: bool | None = None
    #: where Turbotext's own samples put the link
    uploaded_image: str | None = None
    data: ResultData | None = None
    error: Any = None

    def image_url(self) -> str | None:
        """The finished image's link: top-level `uploaded_image`, `data.uploaded_image` or
        `data.image[0]`, whichever is present, in that order."""
        data = self.data or ResultData()
        candidates = (self.uploaded_image, data.uploaded_image, *(data.image or ())[:1])
        return next((url for url in candidates if url and url.strip()), None)


class ErrorAnswer(_Answer):
    """What an HTTP error body may say; anything else is ignored."""

    error: Any = None
    message: Any = None
