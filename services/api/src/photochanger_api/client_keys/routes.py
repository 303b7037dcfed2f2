"""Client keys for admins: make one (its token and webhook secret shown once), list them with
their usage, revoke one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from photochanger_contracts import ErrorCode, is_slot_id
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..admin.auth import Permission, Principal
from ..admin.views import ADMIN_ERRORS, errors
from ..dependencies import container, ingest_deps, require
from ..errors import ApiError
from .auth import ClientKeyAuth
from .keys import ClientKey, digest, new_token, new_webhook_secret
from .store import ClientKeyStore

router = APIRouter(prefix="/api/client-keys", tags=["admin: client keys"])


class NewClientKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=120)
    #: the slots it may use; empty: every slot
    slots: list[str] = Field(default_factory=list, max_length=15)
    rate_limit_per_minute: int = Field(default=60, ge=1, le=10_000)

    @field_validator("slots")
    @classmethod
    def _known_slots(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if not is_slot_id(s)]
        if unknown:
            raise ValueError(f"unknown slots: {', '.join(unknown[:5])}")
        return sorted(set(value))


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs: int = 0
    succeeded: int = 0


class ClientKeyView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    label: str
    slots: list[str]
    rate_limit_per_minute: int
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    #: finished jobs submitted with the key
    usage: Usage


class CreatedClientKey(ClientKeyView):
    #: the token (`Authorization: Bearer …`, or the ingest password): shown only now
    key: str
    #: signs this key's webhooks (Standard Webhooks): shown only now
    webhook_secret: str


class ClientKeyList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[ClientKeyView]


def _view(key: ClientKey, usage: Usage) -> ClientKeyView:
    return ClientKeyView(
        id=key.id, label=key.label, slots=list(key.slots),
        rate_limit_per_minute=key.rate_limit_per_minute, created_at=key.created_at,
        created_by=key.created_by, revoked_at=key.revoked_at, revoked_by=key.revoked_by,
        usage=usage,
    )  # fmt: skip


@router.post("", status_code=201, response_model=CreatedClientKey,
             responses=errors(*ADMIN_ERRORS, 400, 422))  # fmt: skip
async def create_key(
    body: NewClientKey,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.SETTINGS_WRITE))],
) -> CreatedClientKey:
    """Make a key. Its token and webhook secret are in this answer only: only a digest of
    the token is stored."""
    store = await container(request).aget(ClientKeyStore)
    clock = (await ingest_deps(request)).clock
    key_id, secret, token = new_token()
    key = ClientKey(
        id=key_id, label=body.label, slots=tuple(body.slots),
        rate_limit_per_minute=body.rate_limit_per_minute, secret_sha256=digest(secret),
        webhook_secret=new_webhook_secret(), created_at=clock.now(),
        created_by=principal.username,
    )  # fmt: skip
    await store.create(key)
    return CreatedClientKey(
        **_view(key, Usage()).model_dump(), key=token, webhook_secret=key.webhook_secret
    )


@router.get("", response_model=ClientKeyList, responses=errors(*ADMIN_ERRORS))
async def list_keys(
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.SETTINGS_READ))],
) -> ClientKeyList:
    """Every key, revoked ones included, with its usage (finished jobs, succeeded ones)."""
    store = await container(request).aget(ClientKeyStore)
    usage = await store.usage()
    return ClientKeyList(items=[_view(k, Usage(**usage.get(k.id, {}))) for k in await store.all()])


@router.delete("/{key_id}", response_model=ClientKeyView, responses=errors(*ADMIN_ERRORS, 404, 422))
async def revoke_key(
    key_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.SETTINGS_WRITE))],
) -> ClientKeyView:
    """Revoke: refused from now on (on other api replicas within a second). Its jobs and
    their webhooks go on."""
    c = container(request)
    store, auth = await c.aget(ClientKeyStore, ClientKeyAuth)
    key = await store.get(key_id[:64])
    if key is None:
        raise ApiError(
            ErrorCode.CLIENT_KEY_NOT_FOUND, "no such client key", {"key_id": key_id[:64]}
        )
    if not key.revoked:
        now = (await ingest_deps(request)).clock.now()
        await store.revoke(key.id, by=principal.username, now=now)
        key = key.model_copy(update={"revoked_at": now, "revoked_by": principal.username})
    auth.forget(key.id)
    return _view(key, Usage(**(await store.usage()).get(key.id, {})))
