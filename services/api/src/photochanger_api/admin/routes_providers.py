"""GET /api/providers: what a slot can be configured with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from photochanger_contracts import Operation
from photochanger_contracts.slots import (
    REQUIRED_TEMPLATE_ROLES,
    SETTINGS_MODELS,
    settings_json_schema,
)
from photochanger_runtime.configuration.platform_settings import PlatformSettingsRepository
from photochanger_runtime.providers.catalog import ProviderCatalog
from pymongo.asynchronous.database import AsyncDatabase

from ..dependencies import container, require
from .auth import Permission, Principal
from .fleet import provider_fleet
from .views import (
    ADMIN_ERRORS,
    OperationView,
    ProviderHealthList,
    ProviderHealthView,
    ProviderList,
    ProviderView,
    errors,
)

router = APIRouter(prefix="/api", tags=["admin: slots"])

_NEEDS_PROMPT = frozenset({Operation.IMAGE_EDIT, Operation.STYLE_TRANSFER})


@router.get("/providers", response_model=ProviderList, responses=errors(*ADMIN_ERRORS))
async def list_providers(
    request: Request, _: Annotated[Principal, Depends(require(Permission.SLOTS_READ))]
) -> ProviderList:
    """Providers, their operations, and the JSON schema of each operation's slot settings."""
    catalog, platform = await container(request).aget(ProviderCatalog, PlatformSettingsRepository)
    stored = await platform.get()
    fleet = await provider_fleet(request, catalog)
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
                configured=config.configured
                or stored.provider_key(provider_id) is not None
                or fleet[provider_id].replicas_with_key > 0,
                replicas=fleet[provider_id].replicas,
                replicas_with_key=fleet[provider_id].replicas_with_key,
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


@router.get("/providers/health", response_model=ProviderHealthList, responses=errors(*ADMIN_ERRORS))
async def provider_health(
    request: Request, _: Annotated[Principal, Depends(require(Permission.SLOTS_READ))]
) -> ProviderHealthList:
    """Each provider's circuit breaker, fleet-wide budget use and estimated spend today."""
    catalog, db = await container(request).aget(ProviderCatalog, AsyncDatabase)
    reported = {doc["_id"]: doc async for doc in db["provider_health"].find({})}
    today = datetime.now(UTC).date().isoformat()
    items = []
    for provider_id in catalog.ids():
        config = catalog.get(provider_id)
        assert config is not None
        doc = reported.get(provider_id, {})
        same_day = doc.get("day") == today
        items.append(ProviderHealthView(
            id=provider_id, display_name=config.display_name or provider_id,
            breaker=doc.get("breaker", "closed"),
            failures_in_a_row=doc.get("failures_in_a_row", 0), retry_at=doc.get("retry_at"),
            requests_per_minute=doc.get("requests_per_minute", config.requests_per_minute),
            max_concurrent_jobs=doc.get("max_concurrent_jobs", config.concurrency),
            grants_last_minute=doc.get("grants_last_minute", 0),
            in_flight=doc.get("in_flight", 0),
            spend_today=doc.get("spend_today", 0.0) if same_day else 0.0,
            spend_by_slot=doc.get("spend_by_slot", {}) if same_day else {},
            daily_spend_cap=config.daily_spend_cap, denied=doc.get("denied", {}),
            reported_at=doc.get("at"),
        ))  # fmt: skip
    return ProviderHealthList(items=items)


def document_settings_models(app: FastAPI) -> None:
    """Show every provider's slot settings model in the app's OpenAPI document: a component
    `SlotSettings_<provider>` each, named by the slot edit's `settings` field
    (`x-settings-by-provider`). The models are the installed providers' (entry points), so
    the contract grows with the catalogue."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
        by_provider: dict[str, dict[str, str]] = {}
        for provider in sorted(SETTINGS_MODELS):
            schema = SETTINGS_MODELS[provider].model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas[f"SlotSettings_{provider}"] = schema
            by_provider[provider] = {"$ref": f"#/components/schemas/SlotSettings_{provider}"}
        settings = schemas["SlotUpdate"]["properties"]["settings"]
        settings["description"] = (
            "The provider's slot settings (validated by its model; 422 names each field at "
            "fault). `x-settings-by-provider` names the schema of each provider."
        )
        settings["x-settings-by-provider"] = by_provider
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
