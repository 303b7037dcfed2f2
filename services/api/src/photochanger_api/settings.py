"""Configuration of the api process (PHOTOCHANGER_* environment variables)."""

from __future__ import annotations

import uuid

from photochanger_runtime.config import ServiceSettings
from pydantic import Field, SecretStr


class ApiSettings(ServiceSettings):
    service_name: str = "api"
    http_port: int = 8000
    #: largest accepted photo; reading stops at this many bytes
    max_upload_bytes: int = 20 * 1024 * 1024
    #: local/bootstrap ingest password; stored only as an argon2 hash
    ingest_password: SecretStr | None = None
    #: bearer token guarding the job routes until admin auth exists
    admin_token: SecretStr | None = None
    #: requests one api process lets wait at once, and per provider
    max_waiting_requests: int = 2000
    max_waiting_per_provider: int = 1000
    #: safety re-read of a waiting job in case its status event was missed
    status_reread_seconds: float = 5.0
    instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    slots_seed: str | None = None
