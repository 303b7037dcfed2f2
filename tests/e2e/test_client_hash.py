"""A booth's `hash` / `hash_hex` (MD5, SHA-1 or SHA-256, told apart by length, as DSLR Remote
Pro and other booth programs send them): a matching or mismatching digest, sent under either
name, never refuses the photo."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.mark.parametrize("field", ["hash", "hash_hex"])
@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
@pytest.mark.parametrize("matching", [True, False], ids=["matching", "mismatching"])
async def test_a_client_hash_under_either_name_never_refuses_the_photo(
    api: httpx.AsyncClient, stack: Stack, field: str, algorithm: str, matching: bool
) -> None:
    photo = jpeg_photo(700 + len(field) * 10 + len(algorithm) + int(matching))
    digest = hashlib.new(algorithm, photo if matching else photo + b"other").hexdigest()

    answer = await ingest(api, stack, "slot-001", photo, extra={field: digest})

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/")
    assert answer.headers["x-job-id"]
