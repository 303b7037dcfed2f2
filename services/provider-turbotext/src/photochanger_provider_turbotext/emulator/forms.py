"""Turbotext request forms: which method takes which fields, and their allowed values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from photochanger_emulators.imaging import Look

MAX_TEXT = 4000


class FormError(ValueError):
    """A form Turbotext would refuse; the message goes into ``{"error": ...}``."""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    #: image URL field → what Turbotext's method description says it holds, in download order
    inputs: tuple[tuple[str, str], ...]
    #: the input whose picture is processed (the result is drawn from it)
    canvas: str
    #: the input holding the client's own photo (fail-times key, `image_sha256`)
    photo: str
    #: where the finished image's link is put in the `get_result` answer (each place the
    #: documentation names: top-level `uploaded_image`, `data.uploaded_image`, `data.image[]`)
    result_at: tuple[str, ...]
    look: Look

    @property
    def image_fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            name="generate_image2image",
            required=("url", "content"),
            optional=("strength", "seed", "scale", "negative_prompt", "original_language"),
            inputs=(("url", "photo"),),
            canvas="url",
            photo="url",
            result_at=("uploaded_image", "data.uploaded_image"),
            look=Look(effect="posterize", color=(0, 190, 0), label="turbotext image2image"),
        ),
        MethodSpec(
            # "url_image_target: the photo to process; url: the image whose style is taken"
            name="mix_images",
            required=("url_image_target", "url", "content"),
            optional=(),
            inputs=(("url", "style"), ("url_image_target", "target")),
            canvas="url_image_target",
            photo="url_image_target",
            result_at=("uploaded_image",),
            look=Look(effect="posterize", color=(0, 90, 255), label="turbotext mix_images"),
        ),
        MethodSpec(
            # "url: the picture whose face is replaced; url_image_target: the face to put in"
            name="deepfake_photo",
            required=("url", "url_image_target"),
            optional=("face_restore",),
            inputs=(("url", "base"), ("url_image_target", "face")),
            canvas="url",
            photo="url_image_target",
            result_at=("data.image",),
            look=Look(effect="mirror", color=(230, 0, 0), label="turbotext deepfake_photo"),
        ),
    )
}


@dataclass(frozen=True)
class CreateRequest:
    method: MethodSpec
    fields: dict[str, str]

    @property
    def prompt(self) -> str:
        return self.fields.get("content", "")

    @property
    def image_urls(self) -> list[str]:
        return [self.fields[name] for name in self.method.image_fields if name in self.fields]


def _url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FormError(f"Field {name} must be an absolute http(s) URL")


def _text(name: str, value: str) -> None:
    if len(value) > MAX_TEXT:
        raise FormError(f"Field {name} is longer than {MAX_TEXT} characters")


def _content(name: str, value: str) -> None:
    if not value.strip():
        raise FormError(f"Field {name} must not be empty")
    _text(name, value)


def _int_range(low: int, high: int) -> Callable[[str, str], None]:
    def check(name: str, value: str) -> None:
        try:
            number = int(value)
        except ValueError:
            raise FormError(f"Field {name} must be an integer") from None
        if not low <= number <= high:
            raise FormError(f"Field {name} must be between {low} and {high}")

    return check


def _float_range(low: float, high: float) -> Callable[[str, str], None]:
    def check(name: str, value: str) -> None:
        try:
            number = float(value)
        except ValueError:
            raise FormError(f"Field {name} must be a number") from None
        if not low <= number <= high:
            raise FormError(f"Field {name} must be between {low:g} and {high:g}")

    return check


def _language(name: str, value: str) -> None:
    if not re.fullmatch(r"[a-z]{2}", value):
        raise FormError(f"Field {name} must be a two-letter language code such as ru or en")


def _flag(name: str, value: str) -> None:
    if value.lower() not in ("0", "1", "true", "false"):
        raise FormError(f"Field {name} must be 0, 1, true or false")


_CHECKS: dict[str, Callable[[str, str], None]] = {
    "url": _url,
    "url_image_target": _url,
    "content": _content,
    "strength": _int_range(0, 80),
    "seed": _int_range(0, 2**32 - 1),
    "scale": _float_range(0.1, 20.0),
    "negative_prompt": _text,
    "original_language": _language,
    "face_restore": _flag,
}


def single_values(items: Iterable[tuple[str, object]]) -> dict[str, str]:
    """Collapse form items into one string per name; files and repeats are refused."""
    fields: dict[str, str] = {}
    for name, value in items:
        if not isinstance(value, str):
            raise FormError(f"Field {name} must be text (send image URLs, not files)")
        if name in fields:
            raise FormError(f"Field {name} is given more than once")
        fields[name] = value
    return fields


def parse_create(method: MethodSpec, fields: dict[str, str]) -> CreateRequest:
    """Validate a ``do=create_queue`` form (``do`` already removed)."""
    allowed = set(method.required) | set(method.optional)
    for name in fields:
        if name not in allowed:
            raise FormError(f"Unknown field {name} for method {method.name}")
    for name in method.required:
        if name not in fields:
            raise FormError(f"Missing required field {name}")
    for name, value in fields.items():
        _CHECKS[name](name, value)
    return CreateRequest(method=method, fields=dict(fields))


def parse_queueid(fields: dict[str, str]) -> int:
    """Validate a ``do=get_result`` form (``do`` already removed)."""
    extra = sorted(set(fields) - {"queueid"})
    if extra:
        raise FormError(f"Unknown field {extra[0]} for get_result")
    raw = fields.get("queueid")
    if raw is None:
        raise FormError("Missing required field queueid")
    if not raw.isdigit():
        raise FormError("Field queueid must be a positive integer")
    return int(raw)
