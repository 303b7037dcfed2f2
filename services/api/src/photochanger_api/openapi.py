"""The api's published HTTP contract, generated from the app itself.

    uv run python -m photochanger_api.openapi > spec/contracts/openapi.yaml

A contract test regenerates it and fails when the committed file differs, so the file and
the running app cannot drift apart."""

from __future__ import annotations

from typing import Any

import yaml

from .app import create_app
from .settings import ApiSettings


def openapi_document() -> dict[str, Any]:
    # No connection is made: the schema is built from the routes alone.
    return create_app(ApiSettings(log_level="WARNING")).openapi()


def render(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def main() -> None:
    print(render(openapi_document()), end="")


if __name__ == "__main__":
    main()
