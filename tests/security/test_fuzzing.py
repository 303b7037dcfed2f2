"""Fuzzing the anonymous surface (issue 20): never a 500, memory bounded.

- The multipart reader (property-based, in process): random boundaries, part headers, field
  counts and sizes, truncated bodies, random chunking — every form is either read or refused
  with an `ApiError` (400 / 413 / 415 in the envelope), nothing is left in the store on a
  refusal, and what is kept stays within the form limits.
- Schemathesis against a live api: `/ingest/{slot_id}` as an anonymous booth would fuzz it
  (generated multipart bodies from the published schema), and every admin operation without
  a token. The admin API with a token is fuzzed by `tests/e2e/test_admin_contract.py`.

Both are bounded (a few hundred examples, well under a minute)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from photochanger_api import form_limits
from photochanger_api.errors import ApiError
from photochanger_api.multipart import read_ingest_form
from photochanger_runtime.media.memory import InMemoryMediaStore
from schemathesis.checks import not_a_server_error

from tests.security.conftest import ApiProcess

KEY = "payloads/2026120722/fuzz"
MAX_FILE = 4096

_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=? ", min_size=1)
_NAMES = st.sampled_from(["password", "hash", "fileToUpload", "file", "note", "x" * 200, ""])


@st.composite
def _forms(draw: Any) -> tuple[str, bytes, int]:
    boundary = draw(st.one_of(_TOKEN.map(lambda s: s[:80]), st.text(min_size=0, max_size=300)))
    parts = []
    for _ in range(draw(st.integers(0, 40))):
        name = draw(_NAMES)
        headers = f'Content-Disposition: form-data; name="{name}"'
        if draw(st.booleans()):
            headers += '; filename="p.jpg"\r\nContent-Type: image/jpeg'
        if draw(st.integers(0, 9)) == 0:  # now and then a huge or a broken header
            headers += draw(st.sampled_from(["\r\nX-Pad: " + "p" * 20000, "\r\nbroken", "\r\n"]))
        value = draw(st.one_of(st.binary(max_size=64), st.just(b"\xf0\x9f\x98\x80" * 3000)))
        parts.append(f"--{boundary}\r\n{headers}\r\n\r\n".encode(errors="replace") + value)
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode(errors="replace")
    if draw(st.booleans()):  # truncated, or with garbage
        body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=32))
    return f"multipart/form-data; boundary={boundary}", body, draw(st.integers(1, 70000))


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.unit
@settings(
    max_examples=200, deadline=None, database=None, derandomize=True,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
@given(form=_forms())
async def test_the_multipart_reader_reads_or_refuses_any_body(form: tuple[str, bytes, int]) -> None:
    content_type, body, chunk = form
    store = InMemoryMediaStore()
    try:
        read = await read_ingest_form(
            content_type, _chunks(body, chunk), max_file_bytes=MAX_FILE, store=store, key=KEY
        )
    except ApiError as refused:
        assert refused.status_code in (400, 413, 415)
        assert store.objects == {}  # nothing left behind
        return
    assert len(read.fields) <= form_limits.MAX_TEXT_FIELDS
    assert all(len(v.encode()) <= form_limits.KEPT_TEXT_BYTES for v in read.fields.values())
    if read.file is not None:
        assert read.file.stored.size_bytes <= MAX_FILE
    else:
        assert store.objects == {}


def _bounded(examples: int) -> Any:
    return settings(
        max_examples=examples, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )  # fmt: skip


@pytest.fixture(scope="module")
async def api(start_api: Any) -> ApiProcess:
    api: ApiProcess = await start_api()
    return api


def _fuzz(
    api: ApiProcess, path_regex: str, headers: dict[str, str], examples: int
) -> tuple[int, list[str]]:
    import httpx

    published = httpx.get(f"{api.url}/openapi.json", timeout=30).json()
    loaded = schemathesis.openapi.from_dict(published).include(path_regex=path_regex)
    failures: list[str] = []
    operations = 0
    for result in loaded.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @_bounded(examples)
        def never_a_500(case: Any) -> None:
            case.call_and_validate(
                base_url=api.url, headers=headers, timeout=60, checks=[not_a_server_error]
            )

        try:
            never_a_500()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label}: {exc}")
    return operations, failures


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_ingest_fuzzed_by_an_anonymous_booth_never_answers_500(api: ApiProcess) -> None:
    operations, failures = _fuzz(api, r"^/ingest/", {"X-Forwarded-For": "198.18.0.1"}, 40)
    assert operations >= 1
    assert not failures, "\n\n".join(failures)
    assert "Traceback" not in api.log()


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_admin_api_fuzzed_without_a_token_never_answers_500(api: ApiProcess) -> None:
    operations, failures = _fuzz(api, r"^/api/(?!ingest)", {}, 8)
    assert operations >= 18
    assert not failures, "\n\n".join(failures)
    assert "Traceback" not in api.log()
