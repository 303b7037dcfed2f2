"""JSON answers with a spliced base64 image read back exactly like `json.dumps` output."""

from __future__ import annotations

import json
import os

import pybase64
import pytest
from photochanger_emulators.answers import IMAGE_MARKER, json_with_image


def test_the_image_is_spliced_where_the_marker_stood() -> None:
    encoded = pybase64.b64encode_as_string(os.urandom(300_000))
    body = {"data": [{"b64_json": IMAGE_MARKER}], "note": 'quotes " and ünïcode'}

    response = json_with_image(body, encoded)

    assert response.media_type == "application/json"
    assert json.loads(response.body) == {**body, "data": [{"b64_json": encoded}]}
    assert int(response.headers["content-length"]) == len(response.body)


@pytest.mark.parametrize("markers", [0, 2])
def test_a_body_without_exactly_one_marker_is_refused(markers: int) -> None:
    body = {"images": [IMAGE_MARKER] * markers}
    with pytest.raises(ValueError, match="exactly once"):
        json_with_image(body, "QUJD")
