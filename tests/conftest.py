"""Shared fixtures for the repository-level tests.

``infra`` provides a real Kafka broker and a MongoDB-protocol server for the whole session, via
:func:`photochanger_devstack.local_infrastructure`: the servers named by
``PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS`` / ``PHOTOCHANGER_MONGODB_URI`` if set, containers if
Docker and testcontainers are available, else local Kafka and FerretDB on free loopback ports
(installed into ``~/.cache/photochanger`` on first use). The addresses are shown in the
terminal when the servers start and again in the summary.

``stack`` is the whole platform as real processes (five services + provider emulators) on
those servers, shared by the end-to-end and the security tests; ``spans`` holds what its
services export.

``s3_server`` provides an S3-compatible bucket the same way, started only by the tests that ask
for it: ``PHOTOCHANGER_TEST_S3_URL=s3://bucket/prefix`` (endpoint and credentials from the
standard ``AWS_*`` variables) if set, else a local versitygw on a free loopback port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import nullcontext

import pytest
from photochanger_devstack import Infrastructure, local_infrastructure
from photochanger_devstack.infra import (
    ENV_KAFKA_BOOTSTRAP_SERVERS,
    ENV_MONGODB_URI,
    ensure_installed,
)
from photochanger_devstack.paths import ENV_CACHE_DIR
from photochanger_devstack.s3 import ENV_TEST_S3_URL, S3Server, local_s3
from photochanger_devstack.stack import Stack

from tests.e2e import platforms
from tests.support.otlp import SpanStore, start_receiver

_INFRA = pytest.StashKey[Infrastructure]()


def _say(config: pytest.Config, message: str) -> None:
    """Write a line to the terminal, also from inside a fixture (where output is captured)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
        reporter.ensure_newline()
        reporter.write_line(f"photochanger infra: {message}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    kafka = os.environ.get(ENV_KAFKA_BOOTSTRAP_SERVERS) or "local Kafka (free port, on demand)"
    mongodb = os.environ.get(ENV_MONGODB_URI) or "local FerretDB (free port, on demand)"
    cache = os.environ.get(ENV_CACHE_DIR) or "~/.cache/photochanger"
    s3 = os.environ.get(ENV_TEST_S3_URL) or "local versitygw (free port, on demand)"
    return [f"photochanger infra: kafka={kafka}, mongodb={mongodb}, s3={s3}, cache={cache}"]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install the local servers before the first test, outside any per-test timeout.

    The first run on a machine downloads Kafka and builds FerretDB (about a minute); later runs
    only check the cache.
    """
    config = session.config
    if config.option.collectonly:
        return
    kafka_needed = not os.environ.get(ENV_KAFKA_BOOTSTRAP_SERVERS)
    mongodb_needed = not os.environ.get(ENV_MONGODB_URI)
    s3_needed = not os.environ.get(ENV_TEST_S3_URL)
    if not (kafka_needed or mongodb_needed or s3_needed):
        return
    if any(item.get_closest_marker("integration") for item in session.items):
        ensure_installed(
            lambda message: _say(config, message),
            kafka_needed=kafka_needed,
            mongodb_needed=mongodb_needed,
            s3_needed=s3_needed,
        )


@pytest.fixture(scope="session")
def infra(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Infrastructure]:
    """Kafka + MongoDB for the session; local servers are stopped when the session ends.

    Local state (data and logs) goes to pytest's temporary directory, which pytest keeps for
    the last few runs: look at ``<basetemp>/infra0/logs`` when a server misbehaves.
    """
    config = request.config
    state_dir = tmp_path_factory.mktemp("infra")
    with local_infrastructure(state_dir=state_dir, log=lambda msg: _say(config, msg)) as value:
        config.stash[_INFRA] = value
        _say(config, value.describe())
        yield value


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infrastructure) -> str:
    """Kafka bootstrap servers, e.g. ``127.0.0.1:40123``."""
    return infra.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def mongodb_uri(infra: Infrastructure) -> str:
    """MongoDB connection URI, e.g. ``mongodb://127.0.0.1:40125/``."""
    return infra.mongodb_uri


@pytest.fixture(scope="session")
def s3_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    """An S3 bucket for the session: ``$PHOTOCHANGER_TEST_S3_URL`` or a local versitygw (data
    and log in ``<basetemp>/s3*``), stopped when the session ends. Give each test its own
    prefix (``s3_server.media_url("some/unique/prefix")``)."""
    config = request.config
    with local_s3(state_dir=tmp_path_factory.mktemp("s3")) as server:
        _say(config, server.describe())
        yield server


@pytest.fixture(scope="session")
def spans() -> Iterator[SpanStore]:
    """Every span the services of the stack export (OTLP/HTTP, kept in memory)."""
    server, store = start_receiver()
    platforms.RECEIVER["endpoint"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield store
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory, spans: SpanStore
) -> Iterator[Stack]:
    """The platform with its media in a directory (the embedded default)."""
    del spans  # started first so the services export to it
    platform = platforms.start_stack(infra, tmp_path_factory.mktemp("stack"))
    try:
        yield platform
    finally:
        platform.stop_all()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    value = terminalreporter.config.stash.get(_INFRA, None)
    if value is None:
        return
    terminalreporter.write_sep("-", "photochanger infrastructure")
    terminalreporter.write_line(value.describe())
    if value.state_dir is not None:
        terminalreporter.write_line(f"state and logs: {value.state_dir}")
