"""PHOTOCHANGER_REPLICAS: counts per service (1 unless named), refused with a message that
names the wrong item; replica process names and the service they belong to."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from photochanger_devstack.errors import DevstackError
from photochanger_devstack.ports import free_ports
from photochanger_devstack.replicas import (
    MAX_REPLICAS,
    ReplicasError,
    parse_replicas,
    replica_names,
    service_of,
)
from photochanger_devstack.stack import Stack

pytestmark = pytest.mark.unit

SERVICES = ("api", "dispatcher", "provider-gemini", "provider-turbotext", "ttl-reaper")


def test_unset_or_empty_runs_every_service_once() -> None:
    assert parse_replicas(None, SERVICES) == dict.fromkeys(SERVICES, 1)
    assert parse_replicas("  ", SERVICES) == dict.fromkeys(SERVICES, 1)


def test_named_services_get_their_count_and_the_others_one() -> None:
    counts = parse_replicas(" api=2, provider-gemini = 3 ,ttl-reaper=2", SERVICES)
    assert counts == {
        "api": 2, "dispatcher": 1, "provider-gemini": 3, "provider-turbotext": 1,
        "ttl-reaper": 2,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("api=2,,dispatcher=2", "empty item"),
        ("api:2", "'api:2' is not service=count"),
        ("api", "'api' is not service=count"),
        ("gateway=2", "'gateway' is not a service of this platform (services: api, dispatcher"),
        ("api=2,api=3", "'api' is named twice"),
        ("api=0", "from 1 to"),
        ("api=-1", "from 1 to"),
        ("api=two", "whole number"),
        ("api=1.5", "whole number"),
        (f"api={MAX_REPLICAS + 1}", f"from 1 to {MAX_REPLICAS}"),
    ],
)
def test_a_wrong_string_is_refused_naming_the_item(text: str, says: str) -> None:
    with pytest.raises(ReplicasError, match="PHOTOCHANGER_REPLICAS") as refused:
        parse_replicas(text, SERVICES)
    assert says in str(refused.value)


def test_replicas_are_named_after_their_service() -> None:
    assert replica_names("provider-gemini", 3) == [
        "provider-gemini", "provider-gemini.2", "provider-gemini.3",
    ]  # fmt: skip
    assert service_of("provider-gemini.3", SERVICES) == "provider-gemini"
    assert service_of("api", SERVICES) == "api"
    assert service_of("emulator-gemini", SERVICES) is None
    assert service_of("api.1", SERVICES) is None  # the first replica is `api`


def test_the_first_api_replica_refuses_a_port_another_program_listens_on(tmp_path: Path) -> None:
    """SO_REUSEPORT would let the api join a port another program of this user shares:
    the devstack checks before it starts the first api replica."""
    (port,) = free_ports(1)
    stack = Stack(
        infra=None,  # type: ignore[arg-type]  # nothing is started
        state_dir=tmp_path, ports={"api": port}, env={}, ingest_password="p",
        admin_username="a", admin_password="b", emulated=(),
    )  # fmt: skip
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(DevstackError, match=f"port {port} \\(the api\\) is in use"):
            stack.start("api", wait=False)
    assert stack.processes == {}


def test_each_replica_has_a_port_of_its_own_and_api_replicas_share_the_api_port(
    tmp_path: Path,
) -> None:
    stack = Stack(
        infra=None,  # type: ignore[arg-type]  # nothing is started
        state_dir=tmp_path, ports={"api": 8000, "dispatcher": 8101}, env={},
        ingest_password="p", admin_username="a", admin_password="b", emulated=(),
    )  # fmt: skip
    api, api_2 = stack._service_env("api"), stack._service_env("api.2")
    assert api["PHOTOCHANGER_HTTP_PORT"] == api_2["PHOTOCHANGER_HTTP_PORT"] == "8000"
    assert api["PHOTOCHANGER_HTTP_REUSE_PORT"] == "true"
    assert api["PHOTOCHANGER_REPLICA_HTTP_PORT"] != api_2["PHOTOCHANGER_REPLICA_HTTP_PORT"]
    assert stack._service_env("dispatcher")["PHOTOCHANGER_HTTP_PORT"] == "8101"
    second = stack._service_env("dispatcher.2")
    assert second["PHOTOCHANGER_HTTP_PORT"] not in ("8101", "8000")
    assert second["PHOTOCHANGER_SERVICE_NAME"] == "dispatcher"
    assert "service.instance.id=dispatcher.2" in second["OTEL_RESOURCE_ATTRIBUTES"]
