"""Pydantic models of the Gemini `generateContent` REST request and response.

Request bodies spell the blob fields in snake_case (`inline_data`, `mime_type`) and the
config fields in camelCase, the way Google's own REST examples do; the JSON-to-proto parser
accepts either spelling. Responses come back in camelCase, but both spellings are read.
Response models ignore unknown fields: Google adds fields without notice.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Modality = Literal["TEXT", "IMAGE"]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _CamelRequest(_Request):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# -- request ------------------------------------------------------------------------------


class InlineData(_Request):
    mime_type: str
    data: str = Field(repr=False)  # base64: never worth printing


class Part(_Request):
    text: str | None = None
    inline_data: InlineData | None = None


class Content(_Request):
    role: Literal["user"] = "user"
    parts: tuple[Part, ...]


class ImageConfig(_CamelRequest):
    aspect_ratio: str | None = None
    image_size: str | None = None


class GenerationConfig(_CamelRequest):
    response_modalities: tuple[Modality, ...] = ("IMAGE",)
    image_config: ImageConfig | None = None


class SafetySetting(_Request):
    category: str
    threshold: str


class GenerateContentRequest(_CamelRequest):
    contents: tuple[Content, ...]
    generation_config: GenerationConfig
    safety_settings: tuple[SafetySetting, ...] | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


# -- response -----------------------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ResponseBlob(_Response):
    mime_type: str | None = Field(
        default=None, validation_alias=AliasChoices("mimeType", "mime_type")
    )
    data: str = Field(default="", repr=False)


class ResponsePart(_Response):
    text: str | None = None
    inline_data: ResponseBlob | None = Field(
        default=None, validation_alias=AliasChoices("inlineData", "inline_data")
    )
    #: interim "thinking" images of the pro model; never the answer
    thought: bool = False


class ResponseContent(_Response):
    parts: tuple[ResponsePart, ...] = ()
    role: str | None = None


class Candidate(_Response):
    content: ResponseContent | None = None
    finish_reason: str | None = Field(
        default=None, validation_alias=AliasChoices("finishReason", "finish_reason")
    )
    finish_message: str | None = Field(
        default=None, validation_alias=AliasChoices("finishMessage", "finish_message")
    )


class PromptFeedback(_Response):
    block_reason: str | None = Field(
        default=None, validation_alias=AliasChoices("blockReason", "block_reason")
    )
    block_reason_message: str | None = Field(
        default=None,
        validation_alias=AliasChoices("blockReasonMessage", "block_reason_message"),
    )


class UsageMetadata(_Response):
    prompt_token_count: int | None = Field(
        default=None, validation_alias=AliasChoices("promptTokenCount", "prompt_token_count")
    )
    candidates_token_count: int | None = Field(
        default=None,
        validation_alias=AliasChoices("candidatesTokenCount", "candidates_token_count"),
    )
    total_token_count: int | None = Field(
        default=None, validation_alias=AliasChoices("totalTokenCount", "total_token_count")
    )


class GenerateContentResponse(_Response):
    candidates: tuple[Candidate, ...] = ()
    usage_metadata: UsageMetadata | None = Field(
        default=None, validation_alias=AliasChoices("usageMetadata", "usage_metadata")
    )
    prompt_feedback: PromptFeedback | None = Field(
        default=None, validation_alias=AliasChoices("promptFeedback", "prompt_feedback")
    )


class GoogleErrorStatus(_Response):
    """The `error` object of a Google API error body (a `google.rpc.Status`)."""

    code: int | None = None
    message: str = ""
    status: str | None = None
    details: tuple[dict[str, Any], ...] = ()


class GoogleErrorBody(_Response):
    error: GoogleErrorStatus
