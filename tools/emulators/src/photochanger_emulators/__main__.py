"""``python -m photochanger_emulators {gemini,turbotext} [--host H] [--port P] [--api-key K]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from photochanger_emulators.gemini import (
    DEFAULT_MAX_REQUEST_BYTES,
    RENDER_ENV,
    RENDER_MODES,
    create_gemini_app,
)
from photochanger_emulators.serving import uvicorn_config
from photochanger_emulators.turbotext import create_turbotext_app

DEFAULT_KEY = "emulator-key"
KEY_ENV = {
    "gemini": "PHOTOCHANGER_GEMINI_API_KEY",
    "turbotext": "PHOTOCHANGER_TURBOTEXT_API_KEY",
}
DEFAULT_PORT = {"gemini": 8090, "turbotext": 8091}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m photochanger_emulators",
        description="Local emulators of the Gemini and Turbotext image APIs (loopback only).",
    )
    sub = parser.add_subparsers(dest="provider", required=True)
    for provider in ("gemini", "turbotext"):
        command = sub.add_parser(provider, help=f"run the {provider} emulator")
        command.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
        command.add_argument("--port", type=int, default=DEFAULT_PORT[provider])
        command.add_argument(
            "--api-key",
            default=None,
            help=f"accepted key (default: ${KEY_ENV[provider]} or {DEFAULT_KEY!r})",
        )
        command.add_argument("--log-level", default="info")
        if provider == "gemini":
            command.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
            command.add_argument(
                "--render",
                choices=RENDER_MODES,
                default=None,
                help="full: render every answer from the request's image; fixed: answer a "
                "pre-rendered photo-like 1024-px PNG without decoding the input (an instant "
                f"provider for load tests). Default: ${RENDER_ENV} or full",
            )
        else:
            command.add_argument(
                "--default-polls",
                type=int,
                default=2,
                help="reconnect answers before a result (directive polls=N overrides)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    provider: str = args.provider
    api_key: str = args.api_key or os.environ.get(KEY_ENV[provider]) or DEFAULT_KEY
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    if provider == "gemini":
        render = args.render or os.environ.get(RENDER_ENV, "").strip().lower() or "full"
        if render not in RENDER_MODES:
            print(f"error: {RENDER_ENV} must be one of {', '.join(RENDER_MODES)}", file=sys.stderr)
            return 2
        app = create_gemini_app(api_key, max_request_bytes=args.max_request_bytes, render=render)
    else:
        app = create_turbotext_app(api_key, default_polls=args.default_polls)
    try:
        config = uvicorn_config(app, args.host, args.port, log_level=args.log_level)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.api_key:
        key_source = "--api-key"
    elif os.environ.get(KEY_ENV[provider]):
        key_source = KEY_ENV[provider]
    else:
        key_source = f"default {DEFAULT_KEY!r}"
    logging.getLogger("photochanger_emulators").info(
        "%s emulator on http://%s:%d (key from %s)", provider, args.host, args.port, key_source
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
