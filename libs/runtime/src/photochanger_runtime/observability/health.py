"""/healthz, /readyz and /metrics for every service.

`/readyz` is just the svcs container's pings: a service is ready when its broker and
database answer."""

from __future__ import annotations

import logging

import svcs
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)


async def readiness(registry: svcs.Registry) -> tuple[bool, dict[str, str]]:
    checks: dict[str, str] = {}
    async with svcs.Container(registry) as container:
        for svc_ping in container.get_pings():
            try:
                await svc_ping.aping()
                checks[svc_ping.name] = "ok"
            except Exception as exc:
                checks[svc_ping.name] = f"failed: {type(exc).__name__}"
    return all(v == "ok" for v in checks.values()), checks


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_health_app(registry: svcs.Registry) -> Starlette:
    async def readyz(_: Request) -> Response:
        ready, checks = await readiness(registry)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ]
    )
