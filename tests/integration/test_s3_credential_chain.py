"""S3 credentials are optional: with no keys in the pod's Secret (the `AWS_*_FILE` variables
name files that do not exist), the media store takes its credentials from the standard AWS
chain — here the container-credentials endpoint that EKS Pod Identity and ECS provide, served
on loopback with the local S3 server's keys — and works against the real S3 server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from photochanger_devstack.s3 import S3Server
from photochanger_runtime.media.s3 import S3MediaStore
from photochanger_runtime.secrets import with_file_variables

pytestmark = pytest.mark.integration

TOKEN = "pod-identity-token"


class _Credentials:
    def __init__(self, server: S3Server) -> None:
        self.requests: list[str | None] = []
        self.body = json.dumps({
            "AccessKeyId": server.access_key_id,
            "SecretAccessKey": server.secret_access_key,
            # the local S3 server takes no session token; a real endpoint returns one
            "Token": "",
            "Expiration": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }).encode()  # fmt: skip


@pytest.fixture
def credentials_endpoint(s3_server: S3Server) -> Iterator[tuple[str, _Credentials]]:
    if not (s3_server.access_key_id and s3_server.secret_access_key):
        pytest.skip("the session's S3 server has no static keys to hand out")
    state = _Credentials(s3_server)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/credentials", state
    finally:
        server.shutdown()
        server.server_close()


def test_missing_key_files_leave_the_credential_chain_to_work(tmp_path: Path) -> None:
    env = {
        "AWS_ACCESS_KEY_ID_FILE": str(tmp_path / "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY_FILE": str(tmp_path / "AWS_SECRET_ACCESS_KEY"),
        "PHOTOCHANGER_MONGODB_URI_FILE": str(tmp_path / "PHOTOCHANGER_MONGODB_URI"),
    }
    (tmp_path / "PHOTOCHANGER_MONGODB_URI").write_text("mongodb://db/\n")
    values = with_file_variables(env)
    assert "AWS_ACCESS_KEY_ID" not in values and "AWS_SECRET_ACCESS_KEY" not in values
    assert values["PHOTOCHANGER_MONGODB_URI"] == "mongodb://db/"
    # any other secret file must exist
    (tmp_path / "PHOTOCHANGER_MONGODB_URI").unlink()
    with pytest.raises(FileNotFoundError):
        with_file_variables(env)


async def test_the_media_store_works_with_credentials_from_the_chain(
    s3_server: S3Server,
    credentials_endpoint: tuple[str, _Credentials],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, state = credentials_endpoint
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # what EKS Pod Identity injects into a pod
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
    env = {
        name: value for name, value in s3_server.aws_env.items() if "KEY" not in name
    } | {  # the pod's Secret holds no keys: the files are not there
        "AWS_ACCESS_KEY_ID_FILE": str(tmp_path / "absent" / "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY_FILE": str(tmp_path / "absent" / "AWS_SECRET_ACCESS_KEY"),
    }
    store = S3MediaStore.from_url(s3_server.media_url(f"chain/{uuid.uuid4().hex}"), env=env)
    try:
        await store.ping()
        key = f"payloads/{uuid.uuid4().hex}.jpg"
        await store.put(key, b"photo bytes", content_type="image/jpeg")
        assert await store.read(key) == b"photo bytes"
        assert await store.delete(key)
    finally:
        await store.aclose()
    assert state.requests and set(state.requests) == {TOKEN}
