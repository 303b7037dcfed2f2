"""Optimistic concurrency for admin-edited documents (slots, platform settings).

Each edit names the version it was based on and produces the next one. On FerretDB a
conditional update is not atomic (ADR-0006), so the transition `v → v+1` is decided by
inserting a fence `{doc_id}/v{v+1}` under a unique `_id`: exactly one editor wins, and only
the winner writes the document. Until that write is done the fence holds the fields, so a
document whose writer died in between is repaired by the next editor that loses; afterwards
the fields are dropped from the fence (they may include secrets such as provider keys)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ..mongo import Document


async def update_versioned(
    docs: AsyncCollection[Document],
    fences: AsyncCollection[Document],
    doc_id: str,
    *,
    expected_version: int,
    fields: dict[str, Any],
) -> bool:
    """Write `fields` and bump `version` if the document is still at `expected_version`;
    False when it is not (someone else's edit came first)."""
    current = await docs.find_one({"_id": doc_id}, {"version": 1})
    if current is None or current.get("version") != expected_version:
        return False
    written = {**fields, "version": expected_version + 1}
    try:
        # a list, not a sub-document: paths like `provider_keys.gemini` contain dots
        # (and FerretDB stores no nested arrays)
        await fences.insert_one(
            {
                "_id": f"{doc_id}/v{expected_version + 1}",
                "doc_id": doc_id,
                "set": [{"path": path, "value": value} for path, value in written.items()],
            }
        )
    except DuplicateKeyError:
        await _repair(docs, fences, doc_id, expected_version)
        return False
    await docs.update_one({"_id": doc_id, "version": expected_version}, {"$set": written})
    await fences.update_one({"_id": f"{doc_id}/v{expected_version + 1}"}, {"$unset": {"set": ""}})
    return True


async def _repair(
    docs: AsyncCollection[Document],
    fences: AsyncCollection[Document],
    doc_id: str,
    version: int,
) -> None:
    """Re-apply the winning edit of `version → version+1` if the document still lacks it."""
    fence = await fences.find_one({"_id": f"{doc_id}/v{version + 1}"})
    if fence is not None and "set" in fence:
        fields = {entry["path"]: entry["value"] for entry in fence["set"]}
        await docs.update_one({"_id": doc_id, "version": version}, {"$set": fields})
