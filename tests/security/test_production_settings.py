"""Findings (b) and (f), configuration side: a production process refuses to start with
placeholder secrets or a plaintext Kafka, a short ingest password is refused wherever it comes
from, secrets can come from mounted files, and the Kafka security settings reach the clients.

The start-up refusals are checked on real processes (`python -m photochanger_api`, the
dispatcher): they must exit at once, naming the setting and never echoing the value."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from faststream.security import SASLScram512
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.messaging.broker import broker_security

pytestmark = pytest.mark.integration

#: what a production pod would be given, minus the part each test spoils
PROD = {
    "PHOTOCHANGER_ENVIRONMENT": "prod",
    "PHOTOCHANGER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "PHOTOCHANGER_KAFKA_SASL_USERNAME": "photochanger-api",
    "PHOTOCHANGER_KAFKA_SASL_PASSWORD": "Zq7-real-looking-scram-password",
    "PHOTOCHANGER_MONGODB_URI": "mongodb://api:Zq7secret@mongodb.internal:27017/photochanger",
    "PHOTOCHANGER_JWT_SECRET": "a-real-signing-key-of-more-than-32-bytes-0123456789",
    "PHOTOCHANGER_INGEST_PASSWORD": "a-long-ingest-password-for-booths",
    "PHOTOCHANGER_ADMIN_ACCOUNTS": "[]",
}


def _start(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOCHANGER_")}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**clean, "PHOTOCHANGER_HTTP_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PHOTOCHANGER_KAFKA_SASL_PASSWORD", "placeholder-kafka-password"),
        ("PHOTOCHANGER_MONGODB_URI", "mongodb://USER:PASSWORD@HOST:27017/?authSource=admin"),
        ("PHOTOCHANGER_JWT_SECRET", "placeholder-jwt-signing-key-replace-with-32-random-bytes"),
        ("PHOTOCHANGER_INGEST_PASSWORD", "placeholder-ingest-password"),
    ],
)
def test_production_refuses_to_start_on_a_placeholder(variable: str, value: str) -> None:
    done = _start("photochanger_api", {**PROD, variable: value})
    assert done.returncode != 0
    assert "placeholder" in done.stderr and variable in done.stderr
    # no secret at all in what a failed start prints (pod logs are widely readable)
    for secret in (value, *(v for k, v in PROD.items() if k != variable and len(v) > 16)):
        assert secret not in done.stderr


def test_production_refuses_plaintext_kafka() -> None:
    plaintext = {**PROD, "PHOTOCHANGER_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    done = _start("photochanger_dispatcher", plaintext)
    assert done.returncode != 0
    assert "SASL_SSL" in done.stderr


def test_a_short_ingest_password_is_refused_at_start() -> None:
    done = _start("photochanger_api", {"PHOTOCHANGER_INGEST_PASSWORD": "seven77"})
    assert done.returncode != 0
    assert "at least 8 characters" in done.stderr and "seven77" not in done.stderr


def test_secrets_come_from_mounted_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kafka").write_text("from-a-file\n")
    (tmp_path / "mongo").write_text("mongodb://dispatcher:pw@db:27017/\n")
    monkeypatch.setenv("PHOTOCHANGER_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "kafka"))
    monkeypatch.setenv("PHOTOCHANGER_MONGODB_URI_FILE", str(tmp_path / "mongo"))
    monkeypatch.setenv("PHOTOCHANGER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("PHOTOCHANGER_KAFKA_SASL_USERNAME", "dispatcher")
    settings = ServiceSettings()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "from-a-file"
    assert settings.mongodb_uri == "mongodb://dispatcher:pw@db:27017/"


def test_kafka_scram_over_tls_reaches_the_clients(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(_SELF_SIGNED)
    settings = ServiceSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="photochanger-api",
        kafka_sasl_password="pw",  # type: ignore[arg-type]
        kafka_ssl_ca_file=ca,
    )
    security = broker_security(settings)
    assert isinstance(security, SASLScram512) and security.use_ssl
    assert security.username == "photochanger-api" and security.password == "pw"
    context = security.ssl_context
    assert context is not None and context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname and context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert len(context.get_ca_certs()) == 1  # the configured CA, not only the system store
    options = settings.kafka_connection()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "photochanger-api"
    assert options["ssl_context"].verify_mode is ssl.CERT_REQUIRED


# a throw-away self-signed certificate (CN=test-ca), only parsed, never trusted for anything
_SELF_SIGNED = """\
-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUWB3Kkmt+Swv+bKYAcLYeM9zIHSgwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUcGhvdG9jaGFuZ2VyLXRlc3QtY2EwIBcNMjYxMTMwMTUwODU1
WhgPMjEyNjExMDYxNTA4NTVaMB8xHTAbBgNVBAMMFHBob3RvY2hhbmdlci10ZXN0
LWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUUCIGDrxDL+DplAc+cMawfDG
/h/Jo/MtLIQsO2XcNsRnKEhIwOZ6zLBW+X5F0oILrUKJgDnfqaPlI0kJajarSKNT
MFEwHQYDVR0OBBYEFPshc92wSfd4CmO20AgqlWDz/DeuMB8GA1UdIwQYMBaAFPsh
c92wSfd4CmO20AgqlWDz/DeuMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIgbsFsDl5Ql6JVODd0P9v2Bv2K32ePlEXBIEn6J65bi3wCIQCUJwjnrTan
gTfgMKrmqb/zePoYTe8BBLhrVWb5SiaFwQ==
-----END CERTIFICATE-----
"""


@pytest.mark.parametrize("variable", ["PHOTOCHANGER_JWT_SECRET", "PHOTOCHANGER_INGEST_PASSWORD"])
def test_a_dev_deployment_refuses_the_published_placeholders_too(variable: str) -> None:
    """Finding 4 (issue 20): the dev overlay's known signing key and ingest password made any
    shared dev cluster anyone's; only a local run may use placeholders."""
    dev = {"PHOTOCHANGER_ENVIRONMENT": "dev", variable: "placeholder-value-from-the-dev-overlay"}
    done = _start("photochanger_api", dev)
    assert done.returncode != 0
    assert "placeholder" in done.stderr and variable in done.stderr
    assert "placeholder-value-from-the-dev-overlay" not in done.stderr


def test_a_local_run_may_use_placeholders() -> None:
    from photochanger_api.settings import ApiSettings

    local = ApiSettings(
        environment="local", jwt_secret="placeholder-jwt-signing-key-replace-with-32-random-bytes"
    )
    assert local.jwt_secret is not None
