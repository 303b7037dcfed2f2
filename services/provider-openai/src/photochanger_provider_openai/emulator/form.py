"""The `images/edits` multipart form as the API checks it: which fields exist, their values,
the input images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from photochanger_emulators import imaging
from starlette.datastructures import FormData, UploadFile

from .errors import invalid

MODELS: Final = ("gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini")
MODELS_WITH_INPUT_FIDELITY: Final = frozenset({"gpt-image-1.5", "gpt-image-1"})
SIZES: Final = ("1024x1024", "1536x1024", "1024x1536", "auto")
QUALITIES: Final = ("low", "medium", "high", "auto")
FORMATS: Final = {"png": imaging.PNG, "jpeg": imaging.JPEG, "webp": imaging.WEBP}
BACKGROUNDS: Final = ("auto", "opaque", "transparent")
FIDELITIES: Final = ("low", "high")
MODERATIONS: Final = ("auto", "low")
MAX_IMAGES: Final = 16
MAX_PROMPT: Final = 32000
IMAGE_FIELDS: Final = ("image[]", "image")
TEXT_FIELDS: Final = frozenset(
    {"prompt", "model", "n", "size", "quality", "output_format", "output_compression",
     "background", "input_fidelity", "moderation", "user"}
)  # fmt: skip
ACCEPTED_INPUTS: Final = frozenset({imaging.PNG, imaging.JPEG, imaging.WEBP})


@dataclass(frozen=True)
class Image:
    filename: str
    data: bytes = field(repr=False)
    mime_type: str


@dataclass(frozen=True)
class EditRequest:
    prompt: str
    model: str
    size: str
    quality: str
    output_format: str
    background: str
    images: tuple[Image, ...]
    fields: dict[str, str]


async def parse(form: FormData) -> EditRequest:
    """Validate a multipart form; raise the 400 the API would answer."""
    fields: dict[str, str] = {}
    images: list[Image] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name == "mask":
                continue  # accepted, not used by the emulator
            if name not in IMAGE_FIELDS:
                raise invalid(f"Unrecognized file parameter: {name}.", param=name)
            images.append(await _image(value, len(images) + 1))
        elif name in IMAGE_FIELDS:
            raise invalid("image must be a file upload, not text.", param="image")
        elif name not in TEXT_FIELDS:
            raise invalid(f"Unrecognized request argument supplied: {name}", param=name,
                          code="unknown_parameter")  # fmt: skip
        elif name in fields:
            raise invalid(f"Duplicate parameter: {name}.", param=name)
        else:
            fields[name] = value
    prompt = fields.get("prompt")
    if not prompt:
        raise invalid("Missing required parameter: 'prompt'.", param="prompt",
                      code="missing_required_parameter")  # fmt: skip
    if len(prompt) > MAX_PROMPT:
        raise invalid(f"Prompt is longer than {MAX_PROMPT} characters.", param="prompt")
    if not images:
        raise invalid("Missing required parameter: 'image'.", param="image",
                      code="missing_required_parameter")  # fmt: skip
    if len(images) > MAX_IMAGES:
        raise invalid(f"At most {MAX_IMAGES} images may be given.", param="image")
    model = fields.get("model", "gpt-image-1.5")
    if model not in MODELS:
        raise invalid(f"Invalid model {model}. The model must be one of {', '.join(MODELS)}.",
                      param="model")  # fmt: skip
    size = _choice(fields, "size", SIZES, "auto")
    quality = _choice(fields, "quality", QUALITIES, "auto")
    output_format = _choice(fields, "output_format", tuple(FORMATS), "png")
    background = _choice(fields, "background", BACKGROUNDS, "auto")
    _choice(fields, "moderation", MODERATIONS, "auto")
    if "input_fidelity" in fields:
        _choice(fields, "input_fidelity", FIDELITIES, "low")
        if model not in MODELS_WITH_INPUT_FIDELITY:
            raise invalid(f"input_fidelity is not supported for {model}.",
                          param="input_fidelity")  # fmt: skip
    if background == "transparent" and output_format not in ("png", "webp"):
        raise invalid("Transparent background requires output_format png or webp.",
                      param="background")  # fmt: skip
    if "output_compression" in fields:
        _integer(fields, "output_compression", 0, 100)
        if output_format == "png":
            raise invalid("output_compression is only supported for jpeg and webp.",
                          param="output_compression")  # fmt: skip
    if "n" in fields and _integer(fields, "n", 1, 10) != 1:
        raise invalid("The emulator makes one image per request (n=1).", param="n")
    return EditRequest(
        prompt=prompt, model=model, size=size, quality=quality, output_format=output_format,
        background=background, images=tuple(images), fields=fields,
    )  # fmt: skip


async def _image(upload: UploadFile, number: int) -> Image:
    data = await upload.read()
    kind = imaging.sniff(data)
    if kind not in ACCEPTED_INPUTS:
        raise invalid(
            f"Invalid image file or mode for image {number}, please check your image file. "
            "Supported formats are png, jpeg and webp.",
            param="image", code="invalid_image_format",
        )  # fmt: skip
    try:
        imaging.check_decodable(data)
    except imaging.ImageError:
        raise invalid(f"Image {number} could not be decoded.", param="image",
                      code="invalid_image")  from None  # fmt: skip
    return Image(filename=upload.filename or "", data=data, mime_type=kind)


def _choice(fields: dict[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name, default)
    if value not in allowed:
        raise invalid(
            f"Invalid value: '{value}'. Supported values are: {', '.join(map(repr, allowed))}.",
            param=name,
        )
    return value


def _integer(fields: dict[str, str], name: str, low: int, high: int) -> int:
    try:
        number = int(fields[name])
    except ValueError:
        raise invalid(f"{name} must be an integer.", param=name) from None
    if not low <= number <= high:
        raise invalid(f"{name} must be between {low} and {high}.", param=name)
    return number
