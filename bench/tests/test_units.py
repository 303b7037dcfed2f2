"""The benchmark's pure parts: photo splicing, hops, targets, command census, CPU attribution.
Run with `uv run pytest bench -q` (not part of `make test`: the benchmark is a tool)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from photochanger_emulators import imaging
from photochanger_emulators.testing import sample_image
from PIL import Image

from bench import dbtrace, targets
from bench.client import IngestResult
from bench.db import LogEntry
from bench.payloads import PhotoFactory, base_png, multipart_body
from bench.procfs import Proc, descendants, postmaster_pids
from bench.verify import hops_of, job_points


def test_jpeg_photos_are_unique_valid_and_carry_directives() -> None:
    factory = PhotoFactory(sample_image("JPEG", size=(120, 80)))
    first, second = factory.make(), factory.make(emulate="slow=3")
    assert first.sha256 != second.sha256
    assert first.mime_type == "image/jpeg"
    assert first.data[:4] == b"\xff\xd8\xff\xfe"  # the comment right after SOI
    assert imaging.image_text(second.data, "emulate") == "slow=3"
    assert imaging.image_text(first.data, "emulate") is None
    assert len(imaging.image_text(first.data, "bench-id") or "") == 32
    for photo in (first, second):
        with Image.open(io.BytesIO(photo.data)) as image:
            image.load()
            assert image.size == (120, 80)


def test_png_photos_get_text_chunks_after_ihdr() -> None:
    factory = PhotoFactory(base_png(16))
    photo = factory.make(emulate="error=503")
    assert imaging.image_text(photo.data, "emulate") == "error=503"
    assert imaging.image_text(photo.data, "bench-id") is not None
    with Image.open(io.BytesIO(photo.data)) as image:
        image.load()
    body = multipart_body("pw", photo)
    assert b"Content-Type: image/png" in body and b'filename="photo.png"' in body


def test_other_files_get_a_trailer_and_refuse_directives() -> None:
    factory = PhotoFactory(b"RIFF....WEBPdata")
    assert factory.make().data.startswith(b"RIFF....WEBPdata")
    with pytest.raises(ValueError, match="JPEG or PNG"):
        factory.make(emulate="slow=1")


def _result(sent: float, done: float) -> IngestResult:
    return IngestResult(
        sha256="x", sent_wall=sent, sent=sent, done=done, done_wall=done, status=200, job_id="j"
    )


def test_hops_follow_whatever_events_the_log_has() -> None:
    log = [
        LogEntry("succeeded", 10.30, None),
        LogEntry("created", 10.05, None),
        LogEntry("submitted", 10.25, 100.0),  # the provider call: 10.15 .. 10.25
        LogEntry("created", 10.50, None),  # a repeated event: only the first counts
    ]
    hops = hops_of(job_points(_result(10.0, 10.40), log))
    labels = [h[0] for h in hops]
    assert labels == [
        "client→created",
        "created→call start",
        "provider call (submitted.duration_ms)",
        "submitted→succeeded",
        "succeeded→answer",
    ]
    assert [round(h[2]) for h in hops] == [50, 100, 100, 50, 100]
    assert hops_of(job_points(_result(1.0, 1.2), []))[0][0] == "client→answer"


def test_targets_use_the_median_of_the_runs() -> None:
    figures = targets.aggregate(
        [
            {"overhead_p50_ms": 30.0, "overhead_p95_ms": 90.0},
            {"overhead_p50_ms": 50.0, "overhead_p95_ms": 70.0},
            {"overhead_p50_ms": 35.0, "overhead_p95_ms": None},
        ]
    )
    assert figures["overhead_p50_ms"] == {"median": 35.0, "runs": [30.0, 50.0, 35.0]}
    assert figures["overhead_p95_ms"]["median"] == 80.0
    checked = {c["figure"]: c for c in targets.evaluate("sequential", figures, connections=1)}
    assert checked["overhead_p50_ms"]["met"] is True
    assert checked["overhead_p95_ms"]["met"] is True
    assert checked["server_cpu_ms_per_ingest"]["met"] is False  # not measured: not met


def test_growth_ratio_targets_follow_the_checkpoints() -> None:
    figures = targets.aggregate(
        [{"overhead_p50_ratio@2000": 1.25, "overhead_p50_ratio@5000": 1.25}]
    )
    checked = {c["figure"]: c for c in targets.evaluate("growth", figures, connections=1)}
    assert checked["overhead_p50_ratio@2000"]["met"] is True
    assert checked["overhead_p50_ratio@5000"]["met"] is False


def test_command_census_per_successful_job() -> None:
    before = {"api-1.json": {"find jobs": [10, 1000.0, 0]}}
    after = {
        "api-1.json": {"find jobs": [14, 1400.0, 0], "insert jobs": [2, 600.0, 0]},
        "provider-2.json": {"update jobs": [4, 800.0, 1]},
    }
    modules = {"api-1.json": "photochanger_api", "provider-2.json": "photochanger_provider_gemini"}
    during = dbtrace.difference(before, after, modules)
    idle = {"ttl_reaper": {"find jobs": [2.0, 100.0, 0]}}
    result = dbtrace.report(during, ok_jobs=2, load_seconds=1.0, idle=idle, idle_seconds=2.0)
    assert result["commands_per_ok_job"] == 5.0
    assert result["commands_per_ok_job_net_of_background"] == 4.5
    assert result["by_command_per_ok_job"] == {
        "find jobs": 2.0,
        "update jobs": 2.0,
        "insert jobs": 1.0,
    }
    assert result["by_service"]["provider_gemini"]["commands"]["update jobs"]["failed"] == 1


def test_postgres_processes_are_found_from_the_pid_file(tmp_path: Path) -> None:
    me = os.getpid()
    table = {
        1: Proc(1, 0, 1, "init", 0),
        100: Proc(100, 1, 100, "postgres", 5),
        101: Proc(101, 100, 100, "postgres", 7),
        102: Proc(102, 101, 100, "postgres", 1),
        200: Proc(200, 1, 200, "postgres", 9),  # somebody else's server
        me: Proc(me, 1, me, "python", 3),
    }
    pid_file = tmp_path / "postmaster.pid"
    pid_file.write_text("100\n/data\n")
    roots = postmaster_pids(table, [pid_file], [])
    assert roots == {100}
    assert descendants(table, roots) == {100, 101, 102}


def test_a_duplicate_submission_is_blamed_on_the_fault_that_struck_while_the_job_ran() -> None:
    from datetime import UTC, datetime, timedelta

    from bench.chaos import Fault, _blamed_fault

    t0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    dispatcher = Fault("kill dispatcher", "kill", "dispatcher", at=t0)
    gemini = Fault("kill provider-gemini", "kill", "provider-gemini", at=t0 + timedelta(seconds=15))
    faults = [dispatcher, gemini]
    # sent after the dispatcher kill, still running when the provider died
    running = {"created_at": t0 + timedelta(seconds=12)}
    assert _blamed_fault(faults, running, None) == "kill provider-gemini"
    done_before = {"finalized_at": t0 + timedelta(seconds=14)}
    assert _blamed_fault(faults, running, done_before) is None
    assert _blamed_fault(faults, {"created_at": t0 - timedelta(seconds=1)}, done_before) == (
        "kill dispatcher"
    )


def test_chaos_refuses_a_fault_that_is_not_in_its_plan() -> None:
    import argparse

    from bench.chaos import chosen_faults

    def args(faults: str | None) -> argparse.Namespace:
        return argparse.Namespace(short=False, media="file", faults=faults)

    chosen = chosen_faults(args("kill ferretdb, kafka down"))
    assert [f.name for f in chosen] == ["kill ferretdb", "kafka down"]
    assert len(chosen_faults(args(None))) > 2
    with pytest.raises(SystemExit, match="no such fault kill postgresql"):
        chosen_faults(args("kill ferretdb,kill postgresql"))


def test_chaos_kills_one_replica_of_a_service_that_runs_several() -> None:
    from bench.chaos import kills_provider, plan

    counts = {"api": 2, "dispatcher": 1, "provider-turbotext": 3}
    names = [f.name for f in plan(True, counts=counts)]
    assert names == [
        "kill api.2", "kill provider-turbotext.3", "kill dispatcher", "kill kafka", "ferretdb down",
    ]  # fmt: skip
    assert kills_provider("kill provider-turbotext.3", "turbotext")
    assert kills_provider("kill provider-turbotext", "turbotext")
    assert not kills_provider("kill provider-turbotext.3", "gemini")
    assert not kills_provider("kill api.2", "turbotext")


def test_a_providers_duplicate_is_blamed_on_its_own_kill_before_a_later_fault() -> None:
    from datetime import UTC, datetime, timedelta

    from bench.chaos import Fault, _blamed_fault

    t0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    faults = [
        Fault("kill provider-turbotext", "kill", "provider-turbotext", at=t0),
        Fault("kill provider-openai", "kill", "provider-openai", at=t0 + timedelta(seconds=10)),
    ]
    ran = {"created_at": t0 - timedelta(seconds=1)}
    ended = {"finalized_at": t0 + timedelta(seconds=30)}
    assert _blamed_fault(faults, ran, ended, "turbotext") == "kill provider-turbotext"
    assert _blamed_fault(faults, ran, ended, "gemini") == "kill provider-openai"


def test_only_an_attempt_that_died_before_recording_its_reference_excuses_a_resubmission() -> None:
    from bench.chaos import taken_over_before_reference

    def claim(attempt: int, provider: str, reference: str | None) -> dict[str, object]:
        return {"attempt": attempt, "provider": provider, "reference": reference}

    died_early = [claim(1, "turbotext", None), claim(2, "turbotext", None)]
    assert taken_over_before_reference(died_early, "turbotext") == 1
    resumed = [claim(1, "turbotext", "q-1"), claim(2, "turbotext", "q-1")]
    assert taken_over_before_reference(resumed, "turbotext") == 0
    # the last attempt is nobody's predecessor; a fallback's claims are another provider's
    handed_over = [claim(1, "turbotext", None), claim(2, "gemini", None)]
    assert taken_over_before_reference(handed_over, "turbotext") == 0
