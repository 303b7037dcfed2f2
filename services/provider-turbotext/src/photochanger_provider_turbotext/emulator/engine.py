"""Turbotext queues: create, work in the background (download, "generate"), answer polls."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from photochanger_emulators import directives as directive_rules
from photochanger_emulators import imaging
from photochanger_emulators.directives import (
    DEFAULT_FAILURE_CODE,
    DirectiveError,
    Directives,
    FailureGate,
)
from photochanger_emulators.downloads import DownloadError, fetch
from photochanger_emulators.stats import now

from .forms import CreateRequest
from .stats import QueueRecord, TurbotextStats

logger = logging.getLogger("photochanger_emulators.turbotext")

QueueStatus = Literal["working", "hanging", "ready", "failed"]

RECONNECT: dict[str, Any] = {"action": "reconnect"}
ACCEPTED_SOURCE_TYPES = frozenset({imaging.JPEG, imaging.PNG, imaging.WEBP})
GENERATED_PREFIX = "/generated/"


def result_answer(places: tuple[str, ...], link: str) -> dict[str, Any]:
    """A finished `get_result` answer with the link at each of `places`."""
    answer: dict[str, Any] = {"success": True, "data": {}}
    for place in places:
        if place == "uploaded_image":
            answer["uploaded_image"] = link
        elif place == "data.uploaded_image":
            answer["data"]["uploaded_image"] = link
        elif place == "data.image":
            answer["data"]["image"] = [link]
        else:
            raise ValueError(f"unknown result place {place!r}")
    return answer


class CreateRejected(Exception):
    """``create_queue`` refused: answered with ``status`` and ``{"success": false}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Queue:
    request: CreateRequest
    record: QueueRecord
    required_reconnects: int
    status: QueueStatus = "working"
    terminal: dict[str, Any] | None = None
    answered: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def set_status(self, status: QueueStatus, terminal: dict[str, Any] | None = None) -> None:
        self.status = status
        self.terminal = terminal
        self.record.state = status
        if status in ("ready", "failed"):
            self.record.ready_at = now()


@dataclass(frozen=True)
class EngineSettings:
    default_polls: int = 2
    download_timeout: float = 15.0
    max_download_bytes: int = 50 * 1024 * 1024
    keep_generated: int = 256


class TurbotextEngine:
    """All queue state of one emulator (reachable in-process as ``app.state.emulator``)."""

    def __init__(self, settings: EngineSettings, first_queue_id: int | None = None) -> None:
        self.settings = settings
        self.stats = TurbotextStats()
        self.gate = FailureGate()
        self._queues: dict[int, Queue] = {}
        self._generated: OrderedDict[str, bytes] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_id = (
            first_queue_id if first_queue_id is not None else 1_000_000 + secrets.randbelow(10**6)
        )

    # --- create -------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> int:
        """Register a queue and start working it; return its ``queueid``."""
        try:
            wanted = directive_rules.collect(None, [request.prompt])
        except DirectiveError as exc:
            raise CreateRejected(200, f"Emulator directive rejected: {exc}") from None
        self.stats.submissions.total += 1
        self.stats.by_method[request.method.name] += 1
        if wanted.at == "create":
            effective = self.gate.apply(wanted, "prompt:" + request.prompt)
            if effective.blocked:
                raise CreateRejected(200, "Request rejected by the content filter (emulated)")
            if effective.has_failure:
                code = effective.error or DEFAULT_FAILURE_CODE
                raise CreateRejected(code, f"Emulated error {code}: queue not created")
        queueid = self._next_id
        self._next_id += 1
        queue = Queue(
            request=request,
            record=QueueRecord(
                queueid=queueid,
                method=request.method.name,
                created_at=now(),
                fields=dict(request.fields),
            ),
            required_reconnects=self.settings.default_polls,
        )
        self._queues[queueid] = queue
        self.stats.queues[queueid] = queue.record
        task = asyncio.get_running_loop().create_task(self._work(queue))
        queue.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return queueid

    # --- poll ---------------------------------------------------------------------------

    def poll(self, queueid: int) -> dict[str, Any]:
        """Answer ``do=get_result`` for one queue."""
        queue = self._queues.get(queueid)
        if queue is None:
            return {"success": False, "error": f"Queue {queueid} not found"}
        record = queue.record
        moment = now()
        record.poll_times.append(moment)
        if queue.answered:
            record.polls_after_terminal += 1
        if queue.terminal is None or record.reconnects < queue.required_reconnects:
            record.reconnects += 1
            return RECONNECT
        if not queue.answered:
            queue.answered = True
            record.terminal_answer_at = moment
        return queue.terminal

    def generated(self, name: str) -> bytes | None:
        return self._generated.get(name)

    # --- lifecycle ----------------------------------------------------------------------

    async def reset(self) -> None:
        """Forget every queue, image, counter and ``fail-times`` history."""
        await self.cancel_work()
        self._queues.clear()
        self._generated.clear()
        self.gate.reset()
        self.stats = TurbotextStats()

    async def cancel_work(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- the background work ------------------------------------------------------------

    async def _work(self, queue: Queue) -> None:
        try:
            await self._work_unguarded(queue)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("queue %s: emulator failure", queue.record.queueid)
            self._fail(queue, "Internal error of the emulator")

    async def _work_unguarded(self, queue: Queue) -> None:
        method = queue.request.method
        sources: dict[str, bytes] = {}
        for name in method.image_fields:
            if name not in queue.request.fields:
                continue
            data = await self._download(queue, queue.request.fields[name])
            if data is None:
                return
            sources[name] = data
        roles = dict(method.inputs)
        # which picture the method treated as what: a client that swaps two fields is visible
        queue.record.inputs = {
            roles[name]: {"field": name, "sha256": imaging.sha256_hex(data)}
            for name, data in sources.items()
        }
        photo = sources[method.photo]
        sha = imaging.sha256_hex(photo)
        queue.record.image_sha256 = sha
        self.stats.submissions.add_image(sha)
        ordered = [photo, *(data for name, data in sources.items() if name != method.photo)]
        image_text = next(
            (t for t in (imaging.image_text(s, "emulate") for s in ordered) if t is not None), None
        )
        try:
            wanted = directive_rules.collect(image_text, [queue.request.prompt])
        except DirectiveError as exc:
            self._fail(queue, f"Emulator directive rejected: {exc}")
            return
        effective = self._effective(wanted, sha)
        if effective.polls is not None:
            queue.required_reconnects = effective.polls
        if effective.slow:
            await asyncio.sleep(effective.slow)
        if effective.hang:
            queue.set_status("hanging")
            return
        if effective.error is not None:
            self._fail(queue, f"Emulated error {effective.error}: generation failed")
            return
        if effective.blocked:
            self._fail(queue, "Request rejected by the content filter (emulated)")
            return
        if effective.no_image:
            queue.set_status("ready", {"success": True, "data": {}})
            return
        if effective.result_url is not None:  # a result somewhere else (SSRF tests)
            queue.set_status("ready", result_answer(method.result_at, effective.result_url))
            return
        # the processed picture is the canvas; the other input shows as a thumbnail
        canvas = sources[method.canvas]
        other = next((d for n, d in sources.items() if n != method.canvas), None)
        png = await asyncio.to_thread(imaging.render, canvas, method.look, secondary=other)
        name = secrets.token_hex(16) + ".png"
        self._keep(name, png)
        queue.set_status("ready", result_answer(method.result_at, GENERATED_PREFIX + name))

    def _effective(self, wanted: Directives, sha: str) -> Directives:
        if wanted.at == "create":
            # Failures were applied (or passed) when the queue was created.
            return wanted.without_failures()
        return self.gate.apply(wanted, sha)

    async def _download(self, queue: Queue, url: str) -> bytes | None:
        record = queue.record
        try:
            got = await fetch(
                url,
                timeout=self.settings.download_timeout,
                max_bytes=self.settings.max_download_bytes,
            )
        except DownloadError as exc:
            self.stats.source_downloads_failed += 1
            record.source_downloads.append({"url": url, "ok": False, "error": str(exc)})
            self._fail(queue, f"Failed to download image: {exc}")
            return None
        self.stats.source_downloads_ok += 1
        kind = imaging.sniff(got.data)
        record.source_downloads.append(
            {
                "url": url,
                "ok": True,
                "status": got.status,
                "bytes": len(got.data),
                "sha256": imaging.sha256_hex(got.data),
                "type": kind,
            }
        )
        if kind not in ACCEPTED_SOURCE_TYPES:
            self._fail(queue, f"Unsupported image format at {url} (JPEG, PNG or WebP expected)")
            return None
        try:
            await asyncio.to_thread(imaging.check_decodable, got.data)
        except imaging.ImageError as exc:
            self._fail(queue, f"Cannot read image at {url}: {exc}")
            return None
        return got.data

    def _fail(self, queue: Queue, message: str) -> None:
        queue.record.error = message
        queue.set_status("failed", {"success": False, "error": message})

    def _keep(self, name: str, png: bytes) -> None:
        self._generated[name] = png
        while len(self._generated) > self.settings.keep_generated:
            self._generated.popitem(last=False)
