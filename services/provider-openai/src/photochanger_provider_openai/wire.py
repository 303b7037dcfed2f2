"""The GPT Image `POST /v1/images/edits` wire format: the multipart form's text fields, the
JSON answer and OpenAI's error body. Answer models ignore unknown fields (OpenAI adds fields
without notice)."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

#: the repeated file field of the input images (the photo first, then the templates)
IMAGE_FIELD: Final = "image[]"


class ImageEditForm(BaseModel):
    """The text fields of the multipart request; unset options are left out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    model: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    background: str | None = None
    input_fidelity: str | None = None
    moderation: str | None = None

    def fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.model_dump(exclude_none=True).items()}


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ImageData(_Answer):
    b64_json: str | None = Field(default=None, repr=False)
    revised_prompt: str | None = None


class InputTokensDetails(_Answer):
    text_tokens: int | None = None
    image_tokens: int | None = None


class Usage(_Answer):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: InputTokensDetails | None = None

    def figures(self) -> dict[str, int]:
        """The token counts, flat, as the processing log keeps them."""
        found = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.input_tokens_details is not None:
            found["input_text_tokens"] = self.input_tokens_details.text_tokens
            found["input_image_tokens"] = self.input_tokens_details.image_tokens
        return {k: v for k, v in found.items() if v is not None}


class ImagesResponse(_Answer):
    created: int | None = None
    data: tuple[ImageData, ...] = ()
    output_format: str | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    usage: Usage | None = None


class OpenAIErrorDetail(_Answer):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(_Answer):
    """`{"error": {"message", "type", "param", "code"}}`"""

    error: OpenAIErrorDetail

    @classmethod
    def of(cls, detail: dict[str, Any]) -> OpenAIErrorBody:
        return cls(error=OpenAIErrorDetail.model_validate(detail))
