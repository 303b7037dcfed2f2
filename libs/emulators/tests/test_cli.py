from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest
from photochanger_emulators import emulator_ids
from photochanger_emulators.__main__ import build_parser, default_port, main
from photochanger_emulators.serving import require_loopback
from photochanger_emulators.testing import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_parser_knows_every_declared_emulator_and_its_catalogue_port() -> None:
    assert set(emulator_ids()) >= {"gemini", "turbotext"}
    args = build_parser().parse_args(["turbotext"])
    assert (args.host, args.port) == ("127.0.0.1", None)
    assert default_port("gemini") == 8090 and default_port("turbotext") == 8091
    with pytest.raises(SystemExit):
        build_parser().parse_args(["no-such-provider"])


def test_an_emulator_refusing_its_settings_exits_with_status_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PHOTOCHANGER_EMULATOR_RENDER", "lazy")
    assert main(["gemini", "--port", "1"]) == 2


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.org"])  # noqa: S104
def test_only_loopback_binds(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        require_loopback(host)
    assert main(["gemini", "--host", host, "--port", "1"]) == 2


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.5.5", "::1", "localhost"])
def test_loopback_addresses_are_fine(host: str) -> None:
    require_loopback(host)


@pytest.mark.parametrize("provider", ["gemini", "turbotext"])
async def test_cli_serves_and_never_logs_the_key(provider: str) -> None:
    port = free_port()
    secret = "cli-secret-key-value"
    env = dict(os.environ)
    env["PHOTOCHANGER_GEMINI_API_KEY"] = secret
    env["PHOTOCHANGER_TURBOTEXT_API_KEY"] = secret
    env["PHOTOCHANGER_EMULATOR_RENDER"] = "fixed"  # the way the benchmark starts it
    process = subprocess.Popen(
        [sys.executable, "-m", "photochanger_emulators", provider, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as c:

            async def up() -> bool:
                try:
                    return (await c.get("/_emulator/health")).status_code == 200
                except httpx.TransportError:
                    if process.poll() is not None:
                        raise AssertionError("the emulator process exited") from None
                    return False

            await wait_until(up, timeout=15)
            if provider == "gemini":
                assert (await c.get("/_emulator/health")).json()["render"] == "fixed"
                path = "/v1beta/models/gemini-2.5-flash-image:generateContent"
                ok = await c.post(path, params={"key": secret}, json={"contents": []})
                assert ok.status_code == 400  # authenticated; the body is what is wrong
                denied = await c.post(path, params={"key": "wrong"}, json={})
                assert denied.status_code == 400
                assert denied.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
            else:
                headers = {"Authorization": f"Bearer {secret}"}
                form = {"do": "get_result", "queueid": "1"}
                ok = await c.post("/api_ai/generate_image2image", data=form, headers=headers)
                assert ok.status_code == 200
                denied = await c.post("/api_ai/generate_image2image", data=form)
                assert denied.status_code == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    log = output.decode()
    assert "emulator on http://127.0.0.1" in log
    assert "/_emulator/health" in log  # the access log works...
    assert secret not in log  # ...and never shows the key
