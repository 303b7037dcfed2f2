"""Signed webhooks on the running platform: a job submitted with `webhook_url` is delivered
to a local receiver (allowed by configuration) with Standard Webhooks headers whose signature
checks out with the key's secret — again after the receiver answers 500 once, with the same
`webhook-id` — and shows in the admin delivery log; private and unconfigured local addresses
are refused at submission."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e import platforms
from tests.e2e.admin_session import admin_headers
from tests.e2e.client_api import extra_api, make_key, submit
from tests.support.images import jpeg_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


class Receiver:
    """A webhook receiver: records every request; answers each path's scripted statuses
    (then 204)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: dict[str, list[int]] = {}
        self.lock = threading.Lock()

    def for_path(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["path"] == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                statuses = state.script.get(self.path, [])
                status = statuses.pop(0) if statuses else 204
                state.received.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": body, "answered": status}
                )  # fmt: skip
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", platforms.WEBHOOK_RECEIVER_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written from the specification (not our signer)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")]
    return any(hmac.compare_digest(expected, s) for s in offered)


def _url(path: str) -> str:
    return f"http://127.0.0.1:{platforms.WEBHOOK_RECEIVER_PORT}{path}"


async def test_a_finished_job_is_delivered_once_with_a_valid_signature(
    api: httpx.AsyncClient, stack: Stack, receiver: Receiver
) -> None:
    key = await make_key(api, stack)
    accepted = await submit(
        api, key, "slot-001", jpeg_photo(2701), fields={"webhook_url": _url("/once")}
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]

    async def delivered() -> list[dict[str, Any]]:
        return receiver.for_path("/once")

    [request] = await eventually(delivered, timeout=30, what="the webhook")
    assert verify(key["webhook_secret"], request["headers"], request["body"])
    event = json.loads(request["body"])
    assert event["type"] == "job.succeeded"
    assert event["data"]["id"] == job_id and event["data"]["status"] == "succeeded"
    assert event["data"]["result"]["url"].endswith(f"/v1/jobs/{job_id}/result")
    tampered = request["body"].replace(b"succeeded", b"cancelled")
    assert not verify(key["webhook_secret"], request["headers"], tampered)
    log = await _delivery(api, stack, job_id, "delivered")
    assert len(log["attempts"]) == 1 and log["attempts"][0]["status_code"] == 204


async def test_a_delivery_answered_500_is_retried_with_the_same_id(
    api: httpx.AsyncClient, stack: Stack, receiver: Receiver
) -> None:
    receiver.script["/flaky"] = [500]
    key = await make_key(api, stack)
    job_id = (
        await submit(api, key, "slot-001", jpeg_photo(2702), fields={"webhook_url": _url("/flaky")})
    ).json()["id"]

    async def retried() -> list[dict[str, Any]] | None:
        got = receiver.for_path("/flaky")
        return got if len(got) >= 2 else None

    first, second = await eventually(retried, timeout=30, what="the retry")
    assert (first["answered"], second["answered"]) == (500, 204)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert first["body"] == second["body"]
    assert all(verify(key["webhook_secret"], r["headers"], r["body"]) for r in (first, second))
    log = await _delivery(api, stack, job_id, "delivered")
    assert [a["status_code"] for a in log["attempts"]] == [500, 204]
    assert len(receiver.for_path("/flaky")) == 2  # delivered: no more attempts


async def test_retries_go_on_when_the_replica_that_made_the_first_attempt_dies(
    api: httpx.AsyncClient, stack: Stack, receiver: Receiver
) -> None:
    receiver.script["/survivor"] = [500, 500, 500]
    key = await make_key(api, stack)
    with extra_api(stack) as (url, replica):
        async with httpx.AsyncClient(base_url=url, timeout=60) as other:
            accepted = await submit(
                other, key, "slot-001", jpeg_photo(2704),
                fields={"webhook_url": _url("/survivor")}, headers={"Prefer": "wait=30"},
            )  # fmt: skip
        assert accepted.status_code == 200, accepted.text

        async def attempted() -> bool:
            return len(receiver.for_path("/survivor")) >= 1

        await eventually(attempted, timeout=30, what="the first attempt")
        replica.stop(0.0)  # SIGKILL: a crash, mid-retries

    log = await _delivery(api, stack, accepted.headers["x-job-id"], "delivered")
    assert [a["status_code"] for a in log["attempts"]] == [500, 500, 500, 204]
    assert len(receiver.for_path("/survivor")) == 4


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",  # private
        "http://127.0.0.1:9/hook",  # local, but not the configured origin
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "ftp://example.com/hook",
    ],
)
async def test_a_webhook_to_a_private_or_unconfigured_address_is_refused(
    api: httpx.AsyncClient, stack: Stack, url: str
) -> None:
    key = await make_key(api, stack)
    refused = await submit(api, key, "slot-001", jpeg_photo(2703), fields={"webhook_url": url})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"]["problems"][0]["field"] == "webhook_url"


async def _delivery(api: httpx.AsyncClient, stack: Stack, job_id: str, state: str) -> Any:
    headers = await admin_headers(api, stack)

    async def logged() -> dict[str, Any] | None:
        found = await api.get("/api/webhook-deliveries", headers=headers)
        assert found.status_code == 200, found.text
        return next(
            (d for d in found.json()["items"] if d["job_id"] == job_id and d["state"] == state),
            None,
        )

    return await eventually(logged, timeout=15, what=f"the delivery to be {state}")
