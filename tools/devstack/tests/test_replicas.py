"""PHOTOCHANGER_REPLICAS: counts per service (1 unless named), refused with a message that
names the wrong item; replica process names and the service they belong to."""

from __future__ import annotations

import pytest
from photochanger_devstack.replicas import (
    MAX_REPLICAS,
    ReplicasError,
    parse_replicas,
    replica_names,
    service_of,
)

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
