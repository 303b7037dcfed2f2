"""Optional: Kafka and MongoDB in Docker through the ``testcontainers`` package.

Used only when a Docker engine answers and ``testcontainers`` is importable; neither is a
dependency of this package. Images can be overridden with ``PHOTOCHANGER_TC_KAFKA_IMAGE`` and
``PHOTOCHANGER_TC_MONGODB_IMAGE``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from typing import Any

ENV_DISABLE = "PHOTOCHANGER_TESTCONTAINERS"
DEFAULT_KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
DEFAULT_MONGODB_IMAGE = "mongo:7.0"


def available() -> bool:
    """Return True if testcontainers can be used (importable, Docker reachable, not disabled)."""
    if os.environ.get(ENV_DISABLE, "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    try:
        importlib.import_module("testcontainers.kafka")
        importlib.import_module("testcontainers.mongodb")
        docker: Any = importlib.import_module("docker")
        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def kafka() -> Iterator[str]:
    """Run a Kafka container; yield its bootstrap servers."""
    module: Any = importlib.import_module("testcontainers.kafka")
    image = os.environ.get("PHOTOCHANGER_TC_KAFKA_IMAGE", DEFAULT_KAFKA_IMAGE)
    with module.KafkaContainer(image) as container:
        yield str(container.get_bootstrap_server())


@contextlib.contextmanager
def mongodb() -> Iterator[str]:
    """Run a MongoDB container; yield its connection URI."""
    module: Any = importlib.import_module("testcontainers.mongodb")
    image = os.environ.get("PHOTOCHANGER_TC_MONGODB_IMAGE", DEFAULT_MONGODB_IMAGE)
    with module.MongoDbContainer(image) as container:
        yield str(container.get_connection_url())
