from __future__ import annotations

import io

import pytest
from photochanger_emulators import synthetic
from PIL import Image


def test_the_same_seed_gives_the_same_picture() -> None:
    first = synthetic.photographic(120, 80, seed=3)
    assert first.size == (120, 80)
    assert first.mode == "RGB"
    assert first.tobytes() == synthetic.photographic(120, 80, seed=3).tobytes()
    assert first.tobytes() != synthetic.photographic(120, 80, seed=4).tobytes()


def test_jpeg_near_lands_close_to_the_wanted_size() -> None:
    picture = synthetic.photographic(600, 400, seed=1)
    small, q_small = synthetic.jpeg_near(picture, 20_000)
    large, q_large = synthetic.jpeg_near(picture, 60_000)
    assert q_small < q_large
    assert len(small) < len(large)
    assert abs(len(large) - 60_000) < 15_000
    assert Image.open(io.BytesIO(large)).format == "JPEG"


def test_tiny_pictures_are_refused() -> None:
    with pytest.raises(ValueError, match="8x8"):
        synthetic.photographic(4, 4)
