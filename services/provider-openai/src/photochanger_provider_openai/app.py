"""Composition root of the OpenAI provider service: the GPT Image adapter on the shared
runtime."""

from __future__ import annotations

import httpx
from photochanger_contracts import ProviderAdapter
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.service import ProviderServiceSettings, run_provider_service

from .adapter import OpenAIAdapter

PROVIDER_ID = "openai"


class Settings(ProviderServiceSettings):
    service_name: str = "provider-openai"


def build_adapter(config: ProviderConfig, http: httpx.AsyncClient) -> ProviderAdapter:
    return OpenAIAdapter(config, http)


def run(settings: Settings | None = None) -> None:
    run_provider_service(PROVIDER_ID, build_adapter, settings or Settings())
