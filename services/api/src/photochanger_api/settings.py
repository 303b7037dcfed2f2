"""Configuration of the api process (PHOTOCHANGER_* environment variables)."""

from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path
from typing import Annotated, ClassVar

from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.secrets import SettingsRefused, refuse_placeholders
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

#: shortest ingest password an admin or the environment may set: 8, as the photobooth
#: programs of the system this replaces are configured (issue 24); the per-address failure
#: throttle keeps online guessing slow, and the console hints at a stronger one (ADR-0015)
MIN_INGEST_PASSWORD_LENGTH = 8

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ApiSettings(ServiceSettings):
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = (
        *ServiceSettings.SECRET_FIELDS, "ingest_password", "jwt_secret", "admin_accounts",
    )  # fmt: skip

    service_name: str = "api"
    http_port: int = 8000
    #: longest one database operation may take, retries included (see database_deadlines)
    database_timeout_seconds: float = Field(default=1.0, gt=0)
    #: longest the JobCreated publish may wait for Kafka (see ServiceSettings)
    kafka_publish_timeout_seconds: float = Field(default=1.5, gt=0)
    #: /metrics, /readyz and the OpenAPI pages on this port only (not on `http_port`, which
    #: stays public); unset = everything on `http_port` (local runs)
    internal_http_port: int | None = None
    #: bind `http_port` with SO_REUSEPORT, so that several api processes on one host share it
    #: (the kernel spreads the connections over them): how `make up` runs api replicas
    http_reuse_port: bool = False
    #: a further port of this process alone, answering as `http_port` does: with
    #: `http_reuse_port`, the address of one replica (its own /readyz and /metrics)
    replica_http_port: int | None = None
    #: largest accepted photo; reading stops at this many bytes
    max_upload_bytes: int = 20 * 1024 * 1024
    #: a request body may be this much larger than the photo (form fields, multipart framing)
    max_request_overhead_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    #: the whole ingest body must have arrived within this time (408 otherwise); admin
    #: uploads (template images, test-run photos) get the same
    ingest_body_seconds: float = Field(default=40.0, gt=0)
    #: largest body of every other route (the admin JSON API, the login), and the time it
    #: may take to arrive: checked before the token and before parsing (body_limits.py)
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    json_body_seconds: float = Field(default=10.0, gt=0)
    #: ingest bodies read at once by this process, and from one client address
    max_concurrent_uploads: int = Field(default=64, ge=1)
    max_concurrent_uploads_per_address: int = Field(default=16, ge=1)
    #: wrong ingest passwords one client address may send within the window (per process)
    ingest_max_failures_per_address: int = Field(default=30, ge=1)
    ingest_failure_window_seconds: float = Field(default=600, gt=0)
    #: argon2 verifications at once (each takes 64 MiB and a core for ~50 ms) and how many
    #: may queue for one; beyond that a check is refused at once (503)
    password_checks_concurrent: int = Field(default=2, ge=1)
    password_checks_waiting: int = Field(default=4, ge=0)
    #: proxies (addresses or CIDR networks) whose X-Forwarded-For names the client: the
    #: ingress controller's pods; nothing by default (the peer address is the client)
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = ()
    #: per-client limits group IPv6 clients by this many leading bits (a subscriber's /64)
    ipv6_group_prefix: int = Field(default=64, ge=32, le=128)
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
    #: console sessions (admin/sessions.py): signed out after this long without a refresh
    #: (the console refreshes while its operator is active), and after this long at most
    admin_session_idle_seconds: int = Field(default=1800, ge=60, le=86400)
    admin_session_max_seconds: int = Field(default=43200, ge=300, le=30 * 86400)
    #: failed logins allowed per user name from one client address, and per client address,
    #: within the window (counted in the database: shared by every replica)
    login_failure_window_seconds: float = Field(default=900, gt=0)
    login_max_failures_per_user: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    #: largest template image admins may upload
    max_template_bytes: int = 20 * 1024 * 1024
    #: absolute base of the links the api hands out (relative paths when unset)
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
    #: how long a process trusts a client key it looked up (a revocation reaches the other
    #: replicas within this time; ADR-0016)
    client_key_cache_seconds: float = Field(default=1.0, ge=0)
    #: event streams (`GET /v1/jobs/{id}/events`) one api process holds open at once
    max_event_streams: int = Field(default=1000, ge=1)
    #: origins (`scheme://host:port`) webhooks may go to although they are local or plain
    #: http: a receiver on the machine for tests and development; none in production
    webhook_local_origins: Annotated[tuple[str, ...], NoDecode] = ()
    #: one delivery attempt's time limit, and the longest pause between two attempts
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_max_backoff_seconds: float = Field(default=3600.0, gt=0)
    #: the first retry's pause (doubling after each failure, up to the maximum)
    webhook_first_backoff_seconds: float = Field(default=5.0, gt=0)
    #: how often each api process looks for deliveries whose retry is due
    webhook_sweep_seconds: float = Field(default=2.0, gt=0)

    @property
    def max_request_bytes(self) -> int:
        return self.max_upload_bytes + self.max_request_overhead_bytes

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(ipaddress.ip_network(str(v), strict=False) for v in value)
        return value

    @field_validator("webhook_local_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("ingest_password")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_INGEST_PASSWORD_LENGTH:
            raise SettingsRefused(
                f"PHOTOCHANGER_INGEST_PASSWORD must have at least {MIN_INGEST_PASSWORD_LENGTH} "
                "characters"
            )
        return value

    @model_validator(mode="after")
    def _production_admin_secrets(self) -> ApiSettings:
        if self.environment == "prod" and self.jwt_secret is None and self.jwt_secret_file is None:
            raise SettingsRefused("PHOTOCHANGER_ENVIRONMENT=prod needs PHOTOCHANGER_JWT_SECRET")
        if self.environment != "local":
            if self.jwt_secret_file is not None:
                refuse_placeholders(
                    [("PHOTOCHANGER_JWT_SECRET_FILE", self.jwt_secret_file.read_text())]
                )
            if self.admin_accounts_file is not None:
                refuse_placeholders(
                    [("PHOTOCHANGER_ADMIN_ACCOUNTS_FILE", self.admin_accounts_file.read_text())]
                )
        return self
