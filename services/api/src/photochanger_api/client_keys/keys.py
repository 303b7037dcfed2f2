"""A client key as stored, and the token its holder sends (pure: no I/O).

The token is `pck_<id>_<secret>`: the id finds the stored key by `_id` (one command, no
index), the secret is 256 random bits of which only the sha256 is kept. A slow password hash
buys nothing for a random secret of that size, and a fast one keeps the lookup cheap. The
webhook secret (Standard Webhooks `whsec_…`) signs the key's webhooks, so it is kept as is."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

PREFIX = "pck_"
_TOKEN = re.compile(r"^pck_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


class ClientKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    label: str
    #: the slots it may use; empty: every slot
    slots: tuple[str, ...] = ()
    #: jobs it may submit per minute (per api process)
    rate_limit_per_minute: int
    secret_sha256: str
    webhook_secret: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, slot_id: str) -> bool:
        return not self.slots or slot_id in self.slots

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(digest(secret), self.secret_sha256)

    def document(self) -> dict[str, object]:
        return self.model_dump(by_alias=True)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(text: str | None) -> bool:
    return text is not None and text.startswith(PREFIX)


def parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    found = _TOKEN.match(token)
    return (found.group(1), found.group(2)) if found else None


def new_token() -> tuple[str, str, str]:
    """A fresh (key id, secret, token)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}{key_id}_{secret}"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
