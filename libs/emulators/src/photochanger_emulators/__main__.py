"""``python -m photochanger_emulators PROVIDER [--host H] [--port P] [--api-key K]``: run the
emulator a provider package declares (entry point group `photochanger.emulators`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from photochanger_emulators.registry import emulator_factory, emulator_ids
from photochanger_emulators.serving import uvicorn_config

DEFAULT_KEY = "emulator-key"


def key_env(provider: str) -> str:
    return f"PHOTOCHANGER_{provider.upper()}_API_KEY"


def default_port(provider: str) -> int:
    """The provider's `emulator_port` in configs/providers.json (0: any free port)."""
    from photochanger_runtime.config import repository_root
    from photochanger_runtime.providers.catalog import load_catalog

    config = load_catalog(repository_root() / "configs" / "providers.json", environ={}).get(
        provider
    )
    return config.emulator_port if config is not None and config.emulator_port else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m photochanger_emulators",
        description="Local emulators of the providers' image APIs (loopback only).",
    )
    parser.add_argument("provider", choices=emulator_ids(), help="whose emulator to run")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument(
        "--port", type=int, default=None, help="default: emulator_port in configs/providers.json"
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"accepted key (default: $PHOTOCHANGER_<PROVIDER>_API_KEY or {DEFAULT_KEY!r})",
    )
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    provider: str = args.provider
    port: int = args.port if args.port is not None else default_port(provider)
    api_key: str = args.api_key or os.environ.get(key_env(provider)) or DEFAULT_KEY
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    try:
        # a factory refuses bad settings of its own (e.g. an unknown render mode) with ValueError
        app = emulator_factory(provider)(api_key)
        config = uvicorn_config(app, args.host, port, log_level=args.log_level)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.api_key:
        key_source = "--api-key"
    elif os.environ.get(key_env(provider)):
        key_source = key_env(provider)
    else:
        key_source = f"default {DEFAULT_KEY!r}"
    logging.getLogger("photochanger_emulators").info(
        "%s emulator on http://%s:%d (key from %s)", provider, args.host, port, key_source
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
