"""The webhook delivery log for admins: each job's delivery with its attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from ..admin.auth import Permission, Principal
from ..admin.views import ADMIN_ERRORS, errors
from ..dependencies import container, require
from .deliveries import Attempt, Delivery, WebhookDeliveries

router = APIRouter(prefix="/api/webhook-deliveries", tags=["admin: client keys"])


class DeliveryView(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    key_id: str
    url: str
    message_id: str
    event_type: str
    state: Literal["pending", "delivered", "failed"]
    created_at: datetime
    next_attempt_at: datetime | None
    expires_at: datetime
    delivered_at: datetime | None
    attempts: list[Attempt]


class DeliveryList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[DeliveryView]


@router.get("", response_model=DeliveryList, responses=errors(*ADMIN_ERRORS, 422))
async def list_deliveries(
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.JOBS_READ))],
    key_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    """Newest first: where each job's webhook went, its state and every attempt (status code
    or error, duration). Retries go on while `state` is `pending`."""
    deliveries = await container(request).aget(WebhookDeliveries)
    found = await deliveries.page(key_id=key_id, state=state, limit=limit)
    return DeliveryList(items=[_view(d) for d in found])


def _view(d: Delivery) -> DeliveryView:
    return DeliveryView(
        job_id=d.job_id, key_id=d.key_id, url=d.url, message_id=d.message_id,
        event_type=str(d.payload.get("type", "")), state=d.state, created_at=d.created_at,
        next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
        expires_at=d.expires_at, delivered_at=d.delivered_at, attempts=list(d.log),
    )  # fmt: skip
