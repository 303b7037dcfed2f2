"""Configuration of the api process (PHOTOCHANGER_* environment variables)."""

from __future__ import annotations

import uuid
from pathlib import Path

from photochanger_runtime.config import ServiceSettings
from pydantic import Field, SecretStr


class ApiSettings(ServiceSettings):
    service_name: str = "api"
    http_port: int = 8000
    #: longest one database operation may take, retries included (see database_deadlines)
    database_timeout_seconds: float = Field(default=1.0, gt=0)
    #: largest accepted photo; reading stops at this many bytes
    max_upload_bytes: int = 20 * 1024 * 1024
    #: local/bootstrap ingest password; stored only as an argon2 hash
    ingest_password: SecretStr | None = None
    #: admin accounts as JSON (`[{"username", "password_hash", "permissions"}]`, argon2
    #: hashes only), inline or in a secrets file; `make up` generates a local one
    admin_accounts: SecretStr | None = None
    admin_accounts_file: Path | None = None
    #: HS256 signing key of admin tokens (≥ 32 bytes; same on every replica), or a file with it
    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path | None = None
    jwt_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    #: failed logins allowed per user name and per client address within the window
    login_failure_window_seconds: float = Field(default=900, gt=0)
    login_max_failures_per_user: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    #: largest template image admins may upload
    max_template_bytes: int = 20 * 1024 * 1024
    #: absolute base of the links the admin API hands out (relative paths when unset)
    public_base_url: str | None = None
    #: succeeded jobs per window that latency percentiles are computed from, at most
    stats_latency_sample: int = Field(default=5000, ge=100)
    #: requests one api process lets wait at once, and per provider
    max_waiting_requests: int = 2000
    max_waiting_per_provider: int = 1000
    #: safety re-read of a waiting job in case its status event was missed
    status_reread_seconds: float = 5.0
    #: how stale the platform settings and slot plans new jobs use may be (0: read each time)
    config_max_age_seconds: float = Field(default=1.0, ge=0)
    instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    slots_seed: str | None = None
    #: public share-link requests one client address may make per minute (per api process)
    share_requests_per_minute: int = Field(default=60, ge=1)
