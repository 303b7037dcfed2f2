"""Issue 20, finding 10 (media links): `media_links` stored live tokens in plain text; a read
of the collection gave working public links to every photo Turbotext was fetching. Now only
the token's SHA-256 is stored, as result and share links do."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from photochanger_runtime.media.links import MediaLinks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_the_database_keeps_only_the_hash_of_a_media_link(db: Any) -> None:
    links = MediaLinks(db)
    now = datetime.now(UTC)
    link = await links.create(
        "payloads/fuzz/photo", mime_type="image/jpeg", expires_at=now + timedelta(minutes=5),
        job_id=None, now=now,
    )  # fmt: skip
    stored = await db.media_links.find_one({"key": "payloads/fuzz/photo"})
    assert stored["_id"] == hashlib.sha256(link.token.encode()).hexdigest()
    assert link.token not in str(stored)
    found = await links.get(link.token)
    assert found is not None and found.key == "payloads/fuzz/photo"
    assert await links.get(stored["_id"]) is None  # what the database holds opens nothing
