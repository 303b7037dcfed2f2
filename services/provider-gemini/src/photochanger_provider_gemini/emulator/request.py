"""Parse and validate a ``generateContent`` request body the way the real API does.

Like Google's JSON-to-proto parser, every field may be spelled in lowerCamelCase or in the
proto's snake_case, and an unknown name is a 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

import pybase64
from photochanger_emulators import imaging

from .errors import GeminiError, invalid_argument
from .models import IMAGE_SIZES, ModelSpec

ALLOWED_INLINE_MIME = frozenset(
    {imaging.PNG, imaging.JPEG, imaging.WEBP, imaging.HEIC, imaging.HEIF}
)
ALLOWED_RESPONSE_MIME = frozenset(
    {"text/plain", "application/json", "application/xml", "application/yaml", "text/x.enum"}
)
MODALITIES = frozenset({"TEXT", "IMAGE", "AUDIO"})
DEFAULT_MODALITIES = ("TEXT", "IMAGE")

HARM_CATEGORIES = frozenset(
    {
        "HARM_CATEGORY_UNSPECIFIED",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
        "HARM_CATEGORY_IMAGE_HATE",
        "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT",
        "HARM_CATEGORY_IMAGE_HARASSMENT",
        "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT",
    }
)
HARM_THRESHOLDS = frozenset(
    {
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
        "BLOCK_LOW_AND_ABOVE",
        "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_ONLY_HIGH",
        "BLOCK_NONE",
        "OFF",
    }
)

_REQUEST_FIELDS = (
    "contents",
    "generationConfig",
    "safetySettings",
    "systemInstruction",
    "tools",
    "toolConfig",
    "cachedContent",
)
_CONTENT_FIELDS = ("parts", "role")
_PART_DATA_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_PART_FIELDS = (*_PART_DATA_FIELDS, "thought", "thoughtSignature", "videoMetadata")
_BLOB_FIELDS = ("mimeType", "data")
_GENERATION_CONFIG_FIELDS = (
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
)
_IMAGE_CONFIG_FIELDS = ("aspectRatio", "imageSize")
_SAFETY_SETTING_FIELDS = ("category", "threshold")
_NUMBER_FIELDS = ("temperature", "topP", "presencePenalty", "frequencyPenalty")
_INTEGER_FIELDS = ("candidateCount", "maxOutputTokens", "topK", "seed", "logprobs")


@dataclass(frozen=True)
class InlineImage:
    mime_type: str
    data: bytes
    field: str


@dataclass(frozen=True)
class GenerateRequest:
    texts: tuple[str, ...]
    images: tuple[InlineImage, ...]
    response_modalities: tuple[str, ...]
    aspect_ratio: str | None
    image_size: str | None


def parse(body: bytes, model: ModelSpec) -> GenerateRequest:
    """Validate the raw body; raise :class:`GeminiError` (400) on anything the API rejects."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise invalid_argument("Invalid JSON payload received. Invalid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc.msg}.") from None
    request = _fields(document, _REQUEST_FIELDS, "")
    texts: list[str] = []
    images: list[InlineImage] = []
    contents = _list(request.get("contents"), "contents")
    if not contents:
        raise invalid_argument(
            "* GenerateContentRequest.contents: contents is not specified\n", "contents"
        )
    for index, content in enumerate(contents):
        _parse_content(content, f"contents[{index}]", texts, images, need_role=True)
    if "systemInstruction" in request:
        _parse_content(request["systemInstruction"], "system_instruction", [], [], need_role=False)
    _parse_safety_settings(request.get("safetySettings"))
    modalities, aspect_ratio, image_size = _parse_generation_config(
        request.get("generationConfig"), model
    )
    return GenerateRequest(
        texts=tuple(texts),
        images=tuple(images),
        response_modalities=modalities,
        aspect_ratio=aspect_ratio,
        image_size=image_size,
    )


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def _fields(value: Any, allowed: tuple[str, ...], path: str) -> dict[str, Any]:
    """Map an object's keys (either spelling) to their camelCase names; reject unknown ones."""
    if not isinstance(value, dict):
        where = f" at '{path}'" if path else ""
        raise invalid_argument(
            f"Invalid JSON payload received. Expected an object{where}.", path or None
        )
    spelled = {name: name for name in allowed} | {_snake(name): name for name in allowed}
    found: dict[str, Any] = {}
    for key, item in value.items():
        canonical = spelled.get(key)
        if canonical is None:
            where = f" at '{path}'" if path else ""
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                path or key,
            )
        if canonical in found:
            raise invalid_argument(
                f"Invalid JSON payload received. Duplicate field \"{key}\" at '{path}'.", path
            )
        found[canonical] = item
    return found


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_argument(f"Invalid JSON payload received. Expected a list at '{path}'.", path)
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise invalid_argument(
            f"Invalid value at '{path}' (TYPE_STRING), {json.dumps(value)[:64]}", path
        )
    return value


def _parse_content(
    value: Any, path: str, texts: list[str], images: list[InlineImage], *, need_role: bool
) -> None:
    content = _fields(value, _CONTENT_FIELDS, path)
    role = _string(content.get("role", ""), f"{path}.role")
    if need_role and role not in ("", "user", "model"):
        raise invalid_argument("Please use a valid role: user, model.", f"{path}.role")
    parts = _list(content.get("parts"), f"{path}.parts")
    if not parts:
        raise invalid_argument(
            f"* GenerateContentRequest.{path}.parts: contents.parts must not be empty.\n",
            f"{path}.parts",
        )
    for index, part_value in enumerate(parts):
        _parse_part(part_value, f"{path}.parts[{index}]", texts, images)


def _parse_part(value: Any, path: str, texts: list[str], images: list[InlineImage]) -> None:
    part = _fields(value, _PART_FIELDS, path)
    data_fields = [name for name in _PART_DATA_FIELDS if name in part]
    if not data_fields:
        raise invalid_argument(
            f"* GenerateContentRequest.{path}.data: required oneof field 'data' must have one "
            "initialized field\n",
            f"{path}.data",
        )
    if len(data_fields) > 1:
        raise invalid_argument(
            "Invalid JSON payload received. Oneof field 'data' is already set. "
            f"Cannot set '{data_fields[1]}'",
            path,
        )
    kind = data_fields[0]
    if kind == "text":
        texts.append(_string(part["text"], f"{path}.text"))
    elif kind == "inlineData":
        images.append(_parse_blob(part["inlineData"], f"{path}.inline_data"))
    else:
        raise invalid_argument(
            f"The emulator supports only text and inline_data parts, not {_snake(kind)}.",
            f"{path}.{_snake(kind)}",
        )


def _parse_blob(value: Any, path: str) -> InlineImage:
    blob = _fields(value, _BLOB_FIELDS, path)
    mime_type = _string(blob.get("mimeType", ""), f"{path}.mime_type").lower()
    if mime_type not in ALLOWED_INLINE_MIME:
        raise invalid_argument(f"Unsupported MIME type: {mime_type}", f"{path}.mime_type")
    encoded = _string(blob.get("data", ""), f"{path}.data")
    data = _decode_base64(encoded, f"{path}.data")
    try:
        imaging.check_decodable(data)
    except imaging.ImageError:
        raise invalid_argument("Provided image is not valid.", f"{path}.data") from None
    return InlineImage(mime_type=mime_type, data=data, field=path)


def _decode_base64(encoded: str, path: str) -> bytes:
    """Proto ``bytes`` in JSON: standard or URL-safe base64, padding optional."""
    text = encoded.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        shown = encoded[:32] + ("..." if len(encoded) > 32 else "")
        raise invalid_argument(
            f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for \"{shown}\"",
            path,
        ) from None


def _parse_safety_settings(value: Any) -> None:
    for index, item in enumerate(_list(value, "safety_settings")):
        path = f"safety_settings[{index}]"
        setting = _fields(item, _SAFETY_SETTING_FIELDS, path)
        category = _string(setting.get("category", ""), f"{path}.category")
        threshold = _string(setting.get("threshold", ""), f"{path}.threshold")
        if category not in HARM_CATEGORIES:
            raise invalid_argument(
                f"Invalid value at '{path}.category' (type.googleapis.com/"
                f'google.ai.generativelanguage.v1beta.HarmCategory), "{category}"',
                f"{path}.category",
            )
        if threshold not in HARM_THRESHOLDS:
            raise invalid_argument(
                f"Invalid value at '{path}.threshold' (type.googleapis.com/google.ai."
                f'generativelanguage.v1beta.SafetySetting.HarmBlockThreshold), "{threshold}"',
                f"{path}.threshold",
            )


def _parse_generation_config(
    value: Any, model: ModelSpec
) -> tuple[tuple[str, ...], str | None, str | None]:
    if value is None:
        return DEFAULT_MODALITIES, None, None
    path = "generation_config"
    config = _fields(value, _GENERATION_CONFIG_FIELDS, path)
    _check_scalars(config, path)
    response_mime = config.get("responseMimeType")
    if response_mime is not None:
        mime = _string(response_mime, f"{path}.response_mime_type")
        if mime not in ALLOWED_RESPONSE_MIME:
            raise invalid_argument(
                "* GenerateContentRequest.generation_config.response_mime_type: allowed "
                "mimetypes are `text/plain`, `application/json`, `application/xml`, "
                "`application/yaml` and `text/x.enum`.\n",
                f"{path}.response_mime_type",
            )
    candidates = config.get("candidateCount")
    if isinstance(candidates, int) and candidates > 1:
        raise invalid_argument(
            "Multiple candidates is not enabled for this model.", f"{path}.candidate_count"
        )
    modalities = _parse_modalities(config.get("responseModalities"), path)
    aspect_ratio, image_size = _parse_image_config(config.get("imageConfig"), model, path)
    return modalities, aspect_ratio, image_size


def _check_scalars(config: dict[str, Any], path: str) -> None:
    for name in _NUMBER_FIELDS:
        item = config.get(name)
        if item is not None and (isinstance(item, bool) or not isinstance(item, int | float)):
            raise invalid_argument(
                f"Invalid value at '{path}.{_snake(name)}' (TYPE_FLOAT), {json.dumps(item)}",
                f"{path}.{_snake(name)}",
            )
    for name in _INTEGER_FIELDS:
        item = config.get(name)
        if item is not None and (isinstance(item, bool) or not isinstance(item, int)):
            raise invalid_argument(
                f"Invalid value at '{path}.{_snake(name)}' (TYPE_INT32), {json.dumps(item)}",
                f"{path}.{_snake(name)}",
            )


def _parse_modalities(value: Any, path: str) -> tuple[str, ...]:
    items = _list(value, f"{path}.response_modalities")
    if not items:
        return DEFAULT_MODALITIES
    modalities: list[str] = []
    for index, item in enumerate(items):
        where = f"{path}.response_modalities[{index}]"
        name = _string(item, where).upper()
        if name not in MODALITIES:
            raise invalid_argument(
                f"Invalid value at '{where}' (type.googleapis.com/"
                f'google.ai.generativelanguage.v1beta.GenerationConfig.Modality), "{item}"',
                where,
            )
        modalities.append(name)
    if "AUDIO" in modalities:
        raise invalid_argument(
            "The requested combination of response modalities (AUDIO) is not supported by "
            "the model.",
            f"{path}.response_modalities",
        )
    return tuple(modalities)


def _parse_image_config(value: Any, model: ModelSpec, parent: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    path = f"{parent}.image_config"
    config = _fields(value, _IMAGE_CONFIG_FIELDS, path)
    aspect_ratio = config.get("aspectRatio")
    if aspect_ratio is not None:
        aspect_ratio = _string(aspect_ratio, f"{path}.aspect_ratio")
        if aspect_ratio not in imaging.ASPECT_RATIOS:
            raise invalid_argument(
                f"Unsupported aspect ratio: {aspect_ratio}. Supported values are "
                + ", ".join(imaging.ASPECT_RATIOS)
                + ".",
                f"{path}.aspect_ratio",
            )
    image_size = config.get("imageSize")
    if image_size is not None:
        image_size = _string(image_size, f"{path}.image_size")
        if not model.accepts_image_size:
            raise invalid_argument(
                f"Image size is not supported for model {model.name}.", f"{path}.image_size"
            )
        if image_size not in IMAGE_SIZES:
            raise invalid_argument(
                f"Unsupported image size: {image_size}. Supported values are "
                + ", ".join(IMAGE_SIZES)
                + ".",
                f"{path}.image_size",
            )
    return aspect_ratio, image_size


__all__ = ["GeminiError", "GenerateRequest", "InlineImage", "parse"]
