"""The job state machine and byte sniffing."""

from __future__ import annotations

import pytest
from photochanger_contracts import (
    SLOT_IDS,
    ImageMime,
    JobOutcome,
    JobStatus,
    can_claim,
    can_finalize,
    is_slot_id,
    sniff_image_mime,
)


def test_only_pending_jobs_can_be_claimed() -> None:
    assert can_claim(JobStatus.PENDING)
    assert not can_claim(JobStatus.PROCESSING)
    assert not can_claim(JobStatus.FINALIZED)


@pytest.mark.parametrize("outcome", list(JobOutcome))
def test_a_finalized_job_can_never_change_again(outcome: JobOutcome) -> None:
    assert not can_finalize(JobStatus.FINALIZED, outcome)


def test_a_pending_job_cannot_succeed_without_a_claim() -> None:
    assert not can_finalize(JobStatus.PENDING, JobOutcome.SUCCEEDED)
    assert can_finalize(JobStatus.PROCESSING, JobOutcome.SUCCEEDED)
    for failure in (JobOutcome.TIMEOUT, JobOutcome.PROVIDER_ERROR, JobOutcome.CANCELLED):
        assert can_finalize(JobStatus.PENDING, failure)
        assert can_finalize(JobStatus.PROCESSING, failure)


def test_there_are_exactly_fifteen_static_slots() -> None:
    assert len(SLOT_IDS) == 15
    assert SLOT_IDS[0] == "slot-001" and SLOT_IDS[-1] == "slot-015"
    assert not is_slot_id("slot-016") and not is_slot_id("slot-01")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", ImageMime.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ImageMime.PNG),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", ImageMime.WEBP),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", ImageMime.HEIC),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", ImageMime.HEIF),
        (b"GIF89a\x01\x00", None),
        (b"%PDF-1.7", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
)
def test_image_type_is_decided_by_the_bytes(head: bytes, expected: ImageMime | None) -> None:
    assert sniff_image_mime(head) == expected
