"""Serves the console: `/admin/` is the page, `/admin/assets/…` its files.

Every answer carries a strict Content-Security-Policy (scripts, styles and requests only from
this origin, no inline code, no framing), so a script injected through data could neither
run nor send the in-memory token anywhere."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Final

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from photochanger_contracts import ErrorCode

from ..errors import ApiError

router = APIRouter(include_in_schema=False)

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json; charset=utf-8",
}
_ASSET: Final = re.compile(r"^(?:[a-z0-9-]+/)?[a-z0-9-]+\.(?:js|css|svg|json)$")


#: longest asset path served; anything longer is not one of ours
_MAX_NAME = 128


def asset(name: str) -> bytes | None:
    """A bundled file by its path below `static/`; None for anything else. Only files that
    exist are remembered: a request for any other name costs a lookup and nothing kept."""
    if len(name) > _MAX_NAME or (name != "index.html" and not _ASSET.fullmatch(name)):
        return None
    path = resources.files(__package__).joinpath("static", *name.split("/"))
    return _bundled(name) if path.is_file() else None


@cache  # keyed by the files of the package: bounded by what is bundled
def _bundled(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", *name.split("/")).read_bytes()


def _answer(name: str) -> Response:
    body = asset(name)
    if body is None:
        raise ApiError(
            ErrorCode.MEDIA_NOT_FOUND, "no such console file", {"path": name[:_MAX_NAME]}
        )
    suffix = name[name.rfind(".") :]
    return Response(body, media_type=TYPES[suffix], headers=HEADERS)


@router.get("/admin")
async def console_root() -> RedirectResponse:
    return RedirectResponse("/admin/", status_code=308)


@router.get("/admin/")
async def console_page() -> Response:
    return _answer("index.html")


@router.get("/admin/assets/{name:path}")
async def console_asset(name: str) -> Response:
    return _answer(name)
