"""The provider catalog: `configs/providers.json` plus PHOTOCHANGER_<PROVIDER>_<FIELD>
environment overrides (or `..._FILE`, e.g. a mounted API key). The one source of provider
configuration for every service, and the one declaration of which providers the platform runs:
the devstack, the topics, the published contracts, the deployment manifests and the tests all
take the provider list from it."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from photochanger_contracts import Operation
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ..secrets import with_file_variables


class ProviderConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    provider_id: str
    display_name: str = ""
    base_url: str
    api_key: SecretStr | None = None
    request_timeout_seconds: float = Field(default=30, gt=0)
    poll_interval_seconds: float = Field(default=2.5, ge=0)
    #: the shortest time an attempt can take; no attempt starts with less time left
    min_attempt_seconds: float = Field(default=3, ge=0)
    #: the provider plan's limits, for the whole fleet whatever the replica count (the
    #: dispatchers' admission owner enforces them; ADR-0019). Calls at once default to what
    #: the rate needs: requests a second times `typical_latency_seconds`
    requests_per_minute: int = Field(default=500, ge=1)
    max_concurrent_jobs: int | None = Field(default=None, ge=1)
    #: how long a call (a polled provider: a whole remote job) usually takes
    typical_latency_seconds: float = Field(default=12, gt=0)
    #: jobs one replica holds at once (waiting for a permit or calling): cheap coroutines
    replica_max_jobs: int = Field(default=512, ge=1)
    #: the circuit breaker: provider failures in a row that open it, and for how long
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30, gt=0)
    #: estimated cost: price per unit of each usage figure the answers report
    #: (`{"images": 0.039, "output_tokens": 0.00003}`) plus `call` per call
    prices: dict[str, float] = Field(default_factory=dict)
    #: optional daily (UTC) spend cap; over it calls are denied (fallback or a clear error)
    daily_spend_cap: float | None = Field(default=None, gt=0)
    accepts_heif: bool = False
    needs_public_urls: bool = False
    operations: tuple[Operation, ...] = ()
    #: the provider service's HTTP port (/healthz /readyz /metrics) in images, manifests and
    #: `make up`; its emulator's port in `make up`
    service_port: int | None = Field(default=None, ge=1, le=65535)
    emulator_port: int | None = Field(default=None, ge=1, le=65535)
    #: hosts (`name` or `*.domain`) that URLs named in the provider's answers may point at;
    #: fetched over https only, and only when they resolve to public addresses
    result_hosts: tuple[str, ...] = ()
    #: origins (`scheme://host:port`) fetched even though plain http or private: a local
    #: emulator, set explicitly (`make up` and the tests do); empty in production
    trusted_local_origins: tuple[str, ...] = ()

    @field_validator("prices", mode="before")
    @classmethod
    def _json_prices(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("max_concurrent_jobs", "daily_spend_cap", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def concurrency(self) -> int:
        """The fleet's calls at once: configured, or what the rate needs."""
        if self.max_concurrent_jobs is not None:
            return self.max_concurrent_jobs
        return max(1, math.ceil(self.requests_per_minute / 60.0 * self.typical_latency_seconds))

    def cost_of(self, usage: Mapping[str, float]) -> float:
        """The estimated cost of one call from the usage its answer reported."""
        total = self.prices.get("call", 0.0)
        for name, amount in usage.items():
            total += self.prices.get(name, 0.0) * amount
        return round(total, 6)

    @field_validator("result_hosts", "trusted_local_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def configured(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())


class ProviderCatalog:
    def __init__(self, providers: Mapping[str, ProviderConfig]) -> None:
        self._providers = dict(providers)

    def get(self, provider_id: str) -> ProviderConfig | None:
        return self._providers.get(provider_id)

    def ids(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def supports(self, provider_id: str, operation: Operation) -> bool:
        config = self._providers.get(provider_id)
        return config is not None and operation in config.operations


def load_catalog(path: Path, environ: Mapping[str, str] | None = None) -> ProviderCatalog:
    env = with_file_variables(os.environ if environ is None else environ)
    raw: dict[str, dict[str, object]] = json.loads(path.read_text())
    providers: dict[str, ProviderConfig] = {}
    for provider_id, fields in raw.items():
        merged: dict[str, object] = {**fields, "provider_id": provider_id}
        prefix = f"PHOTOCHANGER_{provider_id.upper()}_"
        for name in ProviderConfig.model_fields:
            value = env.get(prefix + name.upper())
            if value is not None and name != "operations":
                merged[name] = value
        providers[provider_id] = ProviderConfig.model_validate(merged)
    return ProviderCatalog(providers)
