"""What every answer of the api carries, and what is answered on which port.

- Safe headers on every response: `X-Content-Type-Options: nosniff` (answers carry user bytes:
  photos, results, template images), `Referrer-Policy: no-referrer` (result links are
  capabilities), `X-Frame-Options: DENY`, and a Content-Security-Policy that allows nothing
  (`default-src 'none'`) unless the response set its own (the OpenAPI page does).
- The operator surface — `/metrics`, `/readyz`, the OpenAPI document and page — only on the
  internal port when one is configured (`PHOTOCHANGER_INTERNAL_HTTP_PORT`); the public port
  answers 404 there. `/healthz` is on both (the kubelet's liveness probe).
- The admin JSON API's media types: a body that is neither JSON nor multipart is 415, an
  `Accept` that rules out what the route answers is 406 — in the error envelope.

A pure ASGI middleware: a few comparisons per request on the ingest path."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from fastapi.openapi.docs import get_swagger_ui_html
from photochanger_contracts import ErrorCode
from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_SAFE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_CSP = b"content-security-policy"

INTERNAL_PATHS = frozenset({"/metrics", "/readyz", "/openapi.json", "/docs"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON = re.compile(r"^application/([\w.+-]+\+)?json$")
_ADMIN_BODY_TYPES = ("application/json", "multipart/form-data")


def _admin_json_path(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/ingest/")


#: admin routes that answer images: results, test runs, template images, job previews
_IMAGE_ROUTES = re.compile(r"/(test-run|result|content)$|^/api/jobs/[^/]+/images/[^/]+$")


def _answers_images(path: str) -> bool:
    return _IMAGE_ROUTES.search(path) is not None


def _acceptable(accept: str, answers_images: bool) -> bool:
    for item in accept.split(","):
        media = item.split(";", 1)[0].strip().lower()
        params = item.split(";")[1:]
        if any(p.strip().replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        if media in ("*/*", "application/*", "") or _JSON.match(media):
            return True
        if answers_images and media.startswith("image/"):
            return True
    return False


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class HttpSurface:
    def __init__(self, app: ASGIApp, *, internal_port: int | None = None) -> None:
        self.app = app
        self.internal_port = internal_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in _SAFE_HEADERS if h[0] not in present]
                if _CSP not in present:
                    headers.append((_CSP, STRICT_CSP.encode()))
                message["headers"] = headers
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        path: str = scope["path"]
        if self.internal_port is not None and path in INTERNAL_PATHS:
            server = scope.get("server")
            if not server or server[1] != self.internal_port:
                return error_response("not_found", "no such route", status_code=404)
        if not _admin_json_path(path):
            return None
        headers = Headers(scope=scope)
        accept = headers.get("accept")
        if accept is not None and not _acceptable(accept, _answers_images(path)):
            return error_response(
                ErrorCode.NOT_ACCEPTABLE,
                "this route answers application/json",
                {"available": ["application/json"]},
            )
        if scope["method"] in _BODY_METHODS and _has_body(headers):
            media = _media_type(headers.get("content-type", ""))
            if media not in _ADMIN_BODY_TYPES and not _JSON.match(media):
                return error_response(
                    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                    "send application/json (or multipart/form-data for uploads)",
                    {"content_type": media, "accepted": list(_ADMIN_BODY_TYPES)},
                )
        return None


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


# -- the OpenAPI page -----------------------------------------------------------------------


def _script_hashes(html: str) -> Iterable[str]:
    for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S):
        digest = hashlib.sha256(body.encode()).digest()
        yield f"'sha256-{base64.b64encode(digest).decode()}'"


def _sources(html: str, tag: str, attribute: str) -> set[str]:
    """The exact https URLs a page loads with `<tag ... attribute="...">` (path-exact source
    expressions: only these files, not their whole CDN)."""
    pattern = rf'<{tag}\b[^>]*\b{attribute}="(https://[^"]+)"'
    return set(re.findall(pattern, html))


def docs_page(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI with a policy that lets exactly this page work: its script and stylesheet
    from the CDN, its one inline script (by hash), its icon, requests to this api only."""
    page = get_swagger_ui_html(openapi_url=openapi_url, title=title)
    html = bytes(page.body).decode()
    scripts = " ".join(sorted(_sources(html, "script", "src") | set(_script_hashes(html))))
    styles = " ".join(sorted(u for u in _sources(html, "link", "href") if u.endswith(".css")))
    icons = " ".join(sorted(u for u in _sources(html, "link", "href") if not u.endswith(".css")))
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src {styles} 'unsafe-inline'; "
        f"img-src 'self' data: {icons}; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})
