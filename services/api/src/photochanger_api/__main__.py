"""`python -m photochanger_api`: serve the api with uvicorn."""

from __future__ import annotations

import uvicorn

from .app import create_app
from .settings import ApiSettings


def main() -> None:
    settings = ApiSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )


if __name__ == "__main__":
    main()
