"""Process configuration: pydantic-settings with the PHOTOCHANGER_ prefix.

Each service subclasses `ServiceSettings` once; nothing else reads the environment. Every
setting may also come from a file: `PHOTOCHANGER_<NAME>_FILE=/path` (secrets.py)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .secrets import FILE_SUFFIX, SettingsRefused, read_secret_file, refuse_placeholders

Environment = Literal["local", "dev", "prod"]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def repository_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "configs" / "providers.json").exists():
            return parent
    return Path.cwd()


class _SecretFilesSource(PydanticBaseSettingsSource):
    """`PHOTOCHANGER_<FIELD>_FILE` for every field that has no `<field>_file` field of its
    own (those read their file themselves, e.g. the admin accounts)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = self.settings_cls.model_config.get("env_prefix", "")
        fields = self.settings_cls.model_fields
        values: dict[str, Any] = {}
        for name in fields:
            if f"{name}_file" in fields or name.endswith("_file"):
                continue
            path = os.environ.get(f"{prefix}{name.upper()}{FILE_SUFFIX}")
            if path:
                values[name] = read_secret_file(path)
        return values


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHOTOCHANGER_", extra="ignore")

    #: secret settings of this class (checked for placeholders in production)
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("mongodb_uri", "kafka_sasl_password")

    service_name: str = "photochanger"
    #: every environment but `local` refuses placeholder secrets at start; `prod` also an
    #: unauthenticated Kafka
    environment: Environment = "local"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    #: Kafka transport: PLAINTEXT locally, SASL_SSL (SCRAM over TLS) in production
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    #: CA bundle (PEM) that signed the brokers' certificates; the system store when unset
    kafka_ssl_ca_file: Path | None = None
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "photochanger"
    #: longest a database operation may take, retries included (MongoDB's `timeoutMS`); the
    #: api uses a short one so that a database outage answers 503 within two seconds
    database_timeout_seconds: float = Field(default=10.0, gt=0)
    #: longest a publish may wait for Kafka's acknowledgement, metadata and retries included;
    #: a message not sent by then expires in the producer (it is never delivered late). The
    #: api uses a short one so that a Kafka outage answers 503 within two seconds.
    kafka_publish_timeout_seconds: float = Field(default=5.0, gt=0)
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
    #: put before every topic and consumer-group name this installation uses on Kafka, so
    #: that several share one cluster (`team-a.` -> `team-a.jobs.created`, group
    #: `team-a.dispatcher`); empty: the plain names. Lowercase, ends with a dot.
    kafka_name_prefix: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]*\.)*$")
    #: consumers of a consumer group in one process. Handlers return within milliseconds
    #: (a provider's work runs in tasks of its own), so one keeps up with hundreds of jobs a
    #: second; each more costs idle fetches and heartbeats. Replicas share the partitions.
    kafka_consumers: int = Field(default=1, ge=1)
    kafka_replication_factor: int = 1
    #: how long shutdown waits for in-flight work before giving up
    shutdown_grace_seconds: float = 10.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(env_settings, EnvSettingsSource)
        return (init_settings, env_settings, _SecretFilesSource(settings_cls), dotenv_settings)

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> ServiceSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise SettingsRefused(
                f"PHOTOCHANGER_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "PHOTOCHANGER_KAFKA_SASL_USERNAME and PHOTOCHANGER_KAFKA_SASL_PASSWORD(_FILE)"
            )
        return self

    @model_validator(mode="after")
    def _production_is_not_a_demo(self) -> ServiceSettings:
        # placeholders (the dev overlay's, the examples') only on a developer's machine: a
        # shared dev cluster with a published signing key is anyone's admin console
        if self.environment == "local":
            return self
        if self.environment == "prod" and self.kafka_security_protocol != "SASL_SSL":
            raise SettingsRefused(
                "PHOTOCHANGER_ENVIRONMENT=prod needs PHOTOCHANGER_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
            )
        refuse_placeholders(
            (f"PHOTOCHANGER_{name.upper()}", _plain(getattr(self, name)))
            for name in self.SECRET_FIELDS
        )
        return self

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the Kafka connections (None for plaintext transports)."""
        if not self.kafka_security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(
            cafile=str(self.kafka_ssl_ca_file) if self.kafka_ssl_ca_file else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def kafka_connection(self) -> dict[str, Any]:
        """aiokafka's keyword arguments for the transport and authentication (every client of
        this process uses them: producer, consumers, the topic admin)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        context = self.kafka_ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.kafka_security_protocol.startswith("SASL_"):
            assert self.kafka_sasl_password is not None
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
            }
        return options


def _plain(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)
