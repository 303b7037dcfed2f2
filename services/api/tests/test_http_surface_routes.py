"""The media-type guard knows every admin route that answers an image: a browser (the
console) asks those with `Accept: image/*` and must not get 406."""

from __future__ import annotations

import re

from photochanger_api.app import create_app
from photochanger_api.http_surface import _acceptable, _admin_json_path, _answers_images
from photochanger_api.settings import ApiSettings


def _image_routes() -> list[str]:
    """Admin paths whose documented 200 answer is an image (from the OpenAPI document)."""
    document = create_app(ApiSettings(jwt_secret="x" * 32)).openapi()
    paths = []
    for path, operations in document["paths"].items():
        if not _admin_json_path(path):
            continue
        for operation in operations.values():
            content = operation.get("responses", {}).get("200", {}).get("content", {})
            if any(media.startswith("image/") for media in content):
                paths.append(re.sub(r"\{[^}]+\}", "x1", path))
    return sorted(set(paths))


def test_every_admin_route_that_answers_an_image_accepts_an_image_request() -> None:
    paths = _image_routes()
    assert len(paths) >= 4  # results, test runs, template images, job previews
    refused = [p for p in paths if not _answers_images(p)]
    assert refused == []
    assert all(_acceptable("image/avif,image/webp,*/*;q=0.8", _answers_images(p)) for p in paths)
    assert not _acceptable("image/png", _answers_images("/api/slots"))
