"""Egress follows the configuration: for every service of each overlay, each destination its
settings name (Kafka, MongoDB, the media store and STS, OTLP, its provider's API) is allowed by
its NetworkPolicies, and no egress rule allows what none of them needs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.deploy.egress import destinations, problems, settings
from tests.deploy.support import OVERLAYS, PROVIDER_SERVICES, SERVICES, of_kind

pytestmark = pytest.mark.deploy

Docs = list[dict[str, Any]]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_egress_allows_exactly_what_the_configuration_names(
    rendered: dict[str, Docs], overlay: str, service: str
) -> None:
    found = problems(rendered[overlay], service)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_reaches_its_media_store(rendered: dict[str, Docs], overlay: str) -> None:
    """The readiness probe pings the media store: blocked, no pod would become Ready."""
    for service in SERVICES:
        named = [d for d in destinations(settings(rendered[overlay], service), service)]
        assert any(d.what == "media store" for d in named), service
        assert not [p for p in problems(rendered[overlay], service) if "media store" in p]


def test_a_destination_the_policy_blocks_fails_the_check(rendered: dict[str, Docs]) -> None:
    """The media store moved to another namespace in the settings only: the check names it."""
    values = settings(rendered["dev"], "api")
    values["AWS_ENDPOINT_URL_S3"] = "http://minio.storage.svc:9000"
    found = problems(rendered["dev"], "api", values)
    assert any("media store minio.storage.svc:9000" in p and "blocked" in p for p in found)
    # and the rule for the old one is now needed by nothing
    assert any("needed by nothing" in p for p in found)


def test_a_new_kafka_port_fails_the_check(rendered: dict[str, Docs]) -> None:
    values = settings(rendered["prod"], "dispatcher")
    values["PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS"] = (
        "photochanger-kafka-kafka-bootstrap.kafka.svc:9094"
    )
    assert any(
        "Kafka" in p and "blocked" in p for p in problems(rendered["prod"], "dispatcher", values)
    )


def test_an_opened_policy_fails_the_check(rendered: dict[str, Docs]) -> None:
    """A rule that lets the dispatcher reach the Internet, which nothing in dev needs."""
    docs = copy.deepcopy(rendered["dev"])
    policy = of_kind(docs, "NetworkPolicy")["photochanger-platform-egress"]
    policy["spec"]["egress"].append(
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12",
                                                            "192.168.0.0/16", "169.254.0.0/16"]}}],
         "ports": [{"protocol": "TCP", "port": 443}]}
    )  # fmt: skip
    assert any("needed by nothing" in p for p in problems(docs, "dispatcher"))


def test_providers_reach_their_apis_and_the_core_services_no_provider(
    rendered: dict[str, Docs],
) -> None:
    for service in SERVICES:
        named = {d.what for d in destinations(settings(rendered["prod"], service), service)}
        has_api = any(what.endswith(" API") for what in named)
        assert has_api == (service in PROVIDER_SERVICES), service
