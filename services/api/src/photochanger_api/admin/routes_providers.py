"""GET /api/providers: what a slot can be configured with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from photochanger_contracts import Operation
from photochanger_contracts.slots import REQUIRED_TEMPLATE_ROLES, settings_json_schema
from photochanger_runtime.configuration.platform_settings import PlatformSettingsRepository
from photochanger_runtime.providers.catalog import ProviderCatalog

from ..dependencies import container, require
from .auth import Permission, Principal
from .views import ADMIN_ERRORS, OperationView, ProviderList, ProviderView, errors

router = APIRouter(prefix="/api", tags=["admin: slots"])

_NEEDS_PROMPT = frozenset({Operation.IMAGE_EDIT, Operation.STYLE_TRANSFER})


@router.get("/providers", response_model=ProviderList, responses=errors(*ADMIN_ERRORS))
async def list_providers(
    request: Request, _: Annotated[Principal, Depends(require(Permission.SLOTS_READ))]
) -> ProviderList:
    """Providers, their operations, and the JSON schema of each operation's slot settings."""
    catalog, platform = await container(request).aget(ProviderCatalog, PlatformSettingsRepository)
    stored = await platform.get()
    items = []
    for provider_id in catalog.ids():
        config = catalog.get(provider_id)
        assert config is not None
        try:
            schema = settings_json_schema(provider_id)
        except KeyError:  # in the catalog but without a settings model yet
            schema = {}
        items.append(
            ProviderView(
                id=provider_id,
                display_name=config.display_name or provider_id,
                configured=config.configured or stored.provider_key(provider_id) is not None,
                accepts_heif=config.accepts_heif,
                operations=[
                    OperationView(
                        operation=op,
                        needs_prompt=op in _NEEDS_PROMPT,
                        required_template_roles=list(REQUIRED_TEMPLATE_ROLES[op]),
                        settings_schema=schema,
                    )
                    for op in config.operations
                ],
            )
        )
    return ProviderList(items=items)
