"""The helpers every provider adapter shares: image order, prompt framing, MIME and settings
checks before a request; status meaning, malformed answers and base64 images after it."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from photochanger_contracts import (
    InputImage,
    Operation,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
)
from photochanger_runtime.providers.answers import (
    bad_answer,
    classify_status,
    decode_base64_image,
)
from photochanger_runtime.providers.inputs import (
    EXTRA_REFERENCES_NOTE,
    IDENTITY_TRANSFER_FRAMING,
    STYLE_TRANSFER_FRAMING,
    check_accepted,
    framed_prompt,
    images_in_order,
    slot_settings,
)
from photochanger_runtime.providers.testing import provider_input
from pydantic import BaseModel, ValidationError


def job(
    operation: Operation, *templates: InputImage, settings: dict[str, object] | None = None
) -> ProviderInput:
    return provider_input(
        "slot-001", operation=operation, settings=settings or {}, templates=templates
    )


def image(role: str, mime: str = "image/png") -> InputImage:
    return InputImage(role=role, data=role.encode(), mime_type=mime)


# -- before the request --------------------------------------------------------------------


def test_the_photo_leads_then_the_required_template_then_the_rest() -> None:
    extra, style = image("extra"), image("style")
    ordered = images_in_order(job(Operation.STYLE_TRANSFER, extra, style))
    assert [i.role for i in ordered] == ["photo", "style", "extra"]


def test_a_missing_required_template_is_an_invalid_slot() -> None:
    with pytest.raises(ProviderError) as caught:
        images_in_order(job(Operation.IDENTITY_TRANSFER, image("style")))
    assert caught.value.code is ProviderErrorCode.INVALID_SLOT_SETTINGS
    assert "'base'" in caught.value.message


@pytest.mark.parametrize(
    ("operation", "count", "expected"),
    [
        (Operation.IMAGE_EDIT, 1, "make it blue"),
        (Operation.IMAGE_EDIT, 2, f"{EXTRA_REFERENCES_NOTE} make it blue"),
        (Operation.STYLE_TRANSFER, 2, f"{STYLE_TRANSFER_FRAMING} make it blue"),
        (
            Operation.IDENTITY_TRANSFER,
            3,
            f"{IDENTITY_TRANSFER_FRAMING} {EXTRA_REFERENCES_NOTE} make it blue",
        ),
    ],
)
def test_the_prompt_is_framed_by_what_the_images_are(
    operation: Operation, count: int, expected: str
) -> None:
    assert framed_prompt(operation, "  make it blue ", count) == expected


def test_an_image_type_the_provider_does_not_take_is_unsupported_input() -> None:
    check_accepted("acme", [image("photo", "image/jpeg")], frozenset({"image/jpeg"}))
    with pytest.raises(ProviderError) as caught:
        check_accepted("acme", [image("style", "image/heic")], frozenset({"image/jpeg"}))
    assert caught.value.code is ProviderErrorCode.UNSUPPORTED_INPUT
    assert caught.value.message == "acme does not accept image/heic (style)"


def test_slot_settings_the_catalogue_refuses_are_an_invalid_slot() -> None:
    class Anything(BaseModel):
        pass

    with pytest.raises(ProviderError) as caught:
        slot_settings("gemini", job(Operation.IMAGE_EDIT, settings={"model": 7}), Anything)
    assert caught.value.code is ProviderErrorCode.INVALID_SLOT_SETTINGS


# -- after the answer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, (ProviderErrorCode.AUTH_FAILED, False)),
        (403, (ProviderErrorCode.AUTH_FAILED, False)),
        (408, (ProviderErrorCode.TIMEOUT, True)),
        (409, (ProviderErrorCode.UNAVAILABLE, True)),
        (429, (ProviderErrorCode.QUOTA_EXHAUSTED, True)),
        (400, (ProviderErrorCode.REJECTED, False)),
        (503, (ProviderErrorCode.UNAVAILABLE, True)),
        (302, (ProviderErrorCode.BAD_RESPONSE, False)),
    ],
)
def test_an_http_error_status_has_a_default_meaning(
    status: int, expected: tuple[ProviderErrorCode, bool]
) -> None:
    assert classify_status(status) == expected


def test_an_adapter_may_name_its_own_client_error() -> None:
    code, retryable = classify_status(404, client_error=ProviderErrorCode.BAD_RESPONSE)
    assert (code, retryable) == (ProviderErrorCode.BAD_RESPONSE, False)


class Answer(BaseModel):
    data: list[str]


def test_a_malformed_answer_is_described_without_quoting_it() -> None:
    secret_payload = "A" * 5000
    with pytest.raises(ValidationError) as caught:
        Answer.model_validate_json(f'{{"data": {{"b64": "{secret_payload}"}}}}')
    error = bad_answer("acme answer", caught.value)
    assert error.code is ProviderErrorCode.BAD_RESPONSE
    assert error.message.startswith("acme answer has an unexpected shape at data")
    assert secret_payload not in error.message
    with pytest.raises(ValidationError) as not_json:
        Answer.model_validate_json(b"<html>")
    assert bad_answer("acme answer", not_json.value).message == "acme answer is not valid JSON"


@pytest.mark.parametrize("alphabet", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_images_decode_in_either_alphabet_with_or_without_padding(
    alphabet: Callable[[bytes], bytes],
) -> None:
    data = bytes(range(256)) * 3 + b"\xfb\xff"
    encoded = alphabet(data).decode().rstrip("=")
    assert decode_base64_image("acme", encoded, max_bytes=len(data)) == data


@pytest.mark.parametrize(
    ("encoded", "max_bytes", "problem"),
    [
        ("not base64!", 100, "not valid base64"),
        ("", 100, "empty"),
        (base64.b64encode(b"x" * 101).decode(), 100, "larger than 100 bytes"),
        ("A" * 4000, 100, "larger than 100 bytes"),
    ],
)
def test_a_bad_base64_image_is_a_bad_response(encoded: str, max_bytes: int, problem: str) -> None:
    with pytest.raises(ProviderError) as caught:
        decode_base64_image("acme", encoded, max_bytes=max_bytes)
    assert caught.value.code is ProviderErrorCode.BAD_RESPONSE
    assert problem in caught.value.message
