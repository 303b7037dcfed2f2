"""Process configuration: pydantic-settings with the PHOTOCHANGER_ prefix.

Each service subclasses `ServiceSettings` once; nothing else reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def repository_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "configs" / "providers.json").exists():
            return parent
    return Path.cwd()


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHOTOCHANGER_", extra="ignore")

    service_name: str = "photochanger"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "photochanger"
    #: longest a database operation may take, retries included (MongoDB's `timeoutMS`); the
    #: api uses a short one so that a database outage answers 503 within two seconds
    database_timeout_seconds: float = Field(default=10.0, gt=0)
    #: address of the health/metrics HTTP endpoint of worker services
    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    providers_config: Path = Field(
        default_factory=lambda: repository_root() / "configs" / "providers.json"
    )
    #: where image bytes live: file:///dir (one machine) or s3://bucket/prefix (ADR-0010)
    media_url: str = Field(default_factory=lambda: (Path.cwd() / ".state" / "media").as_uri())
    kafka_topic_partitions: int = 6
    #: consumers of a consumer group in one process. Handlers return within milliseconds
    #: (a provider's work runs in tasks of its own), so one keeps up with hundreds of jobs a
    #: second; each more costs idle fetches and heartbeats. Replicas share the partitions.
    kafka_consumers: int = Field(default=1, ge=1)
    kafka_replication_factor: int = 1
    #: how long shutdown waits for in-flight work before giving up
    shutdown_grace_seconds: float = 10.0
