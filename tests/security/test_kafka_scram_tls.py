"""Finding (f), transport side: Kafka was plaintext without authentication everywhere. The
services now speak SASL/SCRAM-SHA-512 over TLS when configured (the prod overlay does): this
runs a real broker that offers nothing else — a certificate from a throw-away CA, one SCRAM
user — and checks that the settings reach every client (topic admin, producer, consumer),
that the broker's certificate is verified against the configured CA, and that a wrong
password or a plaintext client gets nowhere."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from photochanger_contracts import topics
from photochanger_devstack import kafka
from photochanger_devstack.java import java_executable
from photochanger_devstack.ports import free_ports
from photochanger_devstack.procs import start_background
from photochanger_devstack.waiting import wait_until_ready
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.messaging.broker import (
    broker_security,
    consumer,
    create_broker,
    ensure_topics,
)

pytestmark = pytest.mark.integration

USER = "photochanger-dispatcher"
PASSWORD = uuid.uuid4().hex
TIMEOUT = 30.0


@dataclass(frozen=True)
class ScramKafka:
    bootstrap: str
    ca_file: Path
    other_ca_file: Path

    def settings(self, *, password: str = PASSWORD, ca_file: Path | None = None) -> ServiceSettings:
        return ServiceSettings(
            kafka_bootstrap_servers=self.bootstrap,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=USER,
            kafka_sasl_password=password,  # type: ignore[arg-type]
            kafka_ssl_ca_file=ca_file or self.ca_file,
        )


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(folder: Path) -> None:
    """A CA, a broker certificate for 127.0.0.1 signed by it (PKCS#12 keystore), and a second,
    unrelated CA."""
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=photochanger-test-{ca}",
                 cwd=folder)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out",
             "broker.csr", "-subj", "/CN=127.0.0.1", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "broker.pem", "-days", "2", "-extfile", "san.ext",
             cwd=folder)  # fmt: skip
    _openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-out",
             "broker.p12", "-password", "pass:keystore-pw", cwd=folder)  # fmt: skip


def _properties(port: int, internal: int, controller: int, state: Path) -> str:
    """The devstack's single-node broker, its client listener SCRAM over TLS."""
    settings = kafka.server_settings(port, controller, state / "data")
    settings.update({
        "listeners": (
            f"SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},"
            f"CONTROLLER://127.0.0.1:{controller}"
        ),
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}",
        "listener.security.protocol.map": (
            "SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "inter.broker.listener.name": "INTERNAL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(state / "broker.p12"),
        "ssl.keystore.password": "keystore-pw",
        "num.partitions": "1",
    })  # fmt: skip
    return kafka.properties_text(settings)


@pytest.fixture(scope="module")
def scram_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScramKafka]:
    if not kafka.is_installed():
        pytest.skip("the local Kafka is not installed (an external Kafka is configured)")
    state = tmp_path_factory.mktemp("kafka-scram")
    _certificates(state)
    port, internal, controller = free_ports(3)
    config = state / "server.properties"
    config.write_text(_properties(port, internal, controller, state))
    java = [java_executable(), "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", f"-Dlog4j2.configurationFile={kafka.log4j_config()}",
            f"-Dkafka.logs.dir={state}", "-cp", kafka._classpath()]  # fmt: skip
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "--cluster-id", "c2VjdXJpdHktdGVzdHMtMA",
         "--config", str(config), "--add-scram",
         f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    process = start_background(
        "kafka-scram", [*java, "kafka.Kafka", str(config)],
        log_file=state / "kafka.out", pid_file=state / "kafka.pid", cwd=state,
    )  # fmt: skip
    try:
        wait_until_ready(
            lambda: kafka.probe(f"127.0.0.1:{internal}"), what="the SCRAM/TLS Kafka",
            timeout=90, process=process,
        )  # fmt: skip
        yield ScramKafka(f"127.0.0.1:{port}", state / "ca.pem", state / "other-ca.pem")
    finally:
        process.stop()


async def test_the_services_produce_and_consume_over_scram_and_tls(
    scram_kafka: ScramKafka,
) -> None:
    settings = scram_kafka.settings()
    topic = f"security-scram-{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        settings.kafka_bootstrap_servers, (topic, topics.DEAD_LETTER), partitions=1,
        replication_factor=1, connection=settings.kafka_connection(),
    )  # fmt: skip
    received: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def handle(body: dict[str, Any]) -> None:
        if not received.done():
            received.set_result(body)

    broker = create_broker(
        settings.kafka_bootstrap_servers, client_id="security-scram",
        security=broker_security(settings),
    )  # fmt: skip
    broker.subscriber(topic, **consumer(group_id=f"group-{topic}"))(handle)
    await broker.start()
    try:
        await broker.publish(b'{"over": "tls"}', topic, key=b"job-scram")
        assert await asyncio.wait_for(received, TIMEOUT) == {"over": "tls"}
    finally:
        await broker.stop()


async def _admin_fails(**options: Any) -> str:
    """The client is refused quickly (not left hanging until a timeout); its error's name."""
    admin = AIOKafkaAdminClient(request_timeout_ms=5000, **options)
    try:
        async with asyncio.timeout(TIMEOUT):
            await admin.start()
            await admin.list_topics()
    except TimeoutError:
        raise AssertionError("the client hung instead of being refused") from None
    except Exception as exc:
        return type(exc).__name__
    finally:
        await admin.close()
    raise AssertionError(f"the broker let a client in with {sorted(options)}")


async def test_a_wrong_password_an_unknown_ca_or_a_plaintext_client_gets_nowhere(
    scram_kafka: ScramKafka,
) -> None:
    wrong = scram_kafka.settings(password="not-" + PASSWORD)
    stranger = scram_kafka.settings(ca_file=scram_kafka.other_ca_file)
    refusals = [
        await _admin_fails(bootstrap_servers=scram_kafka.bootstrap, **wrong.kafka_connection()),
        await _admin_fails(bootstrap_servers=scram_kafka.bootstrap, **stranger.kafka_connection()),
        await _admin_fails(bootstrap_servers=scram_kafka.bootstrap),  # PLAINTEXT
    ]
    assert refusals == ["KafkaConnectionError"] * 3  # refused at the handshake, not hung
