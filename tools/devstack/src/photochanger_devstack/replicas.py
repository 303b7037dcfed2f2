"""How many processes of each service a local platform runs: `PHOTOCHANGER_REPLICAS`.

    PHOTOCHANGER_REPLICAS="api=2,dispatcher=2,provider-gemini=3,provider-turbotext=2,ttl-reaper=2"

Any service of the topology, any count from 1 to `MAX_REPLICAS`; a service not named runs
once. Items are separated by commas (spaces around them are ignored). A string that does not
follow this is refused with a message naming the item and what is expected.

Each replica is a process of its own, named after its service: the first replica keeps the
service's name (`api`, `provider-gemini`), the others get their number (`api.2`,
`provider-gemini.3`). Logs, pid files and the supervisor use these names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from photochanger_devstack.errors import DevstackError

ENV_REPLICAS = "PHOTOCHANGER_REPLICAS"
#: more would only compete for the cores of one machine (each replica is a Python process)
MAX_REPLICAS = 32

_ITEM = re.compile(r"^(?P<service>[a-z0-9][a-z0-9-]*)\s*=\s*(?P<count>[^\s=]+)$")
_REPLICA = re.compile(r"^(?P<service>.+)\.(?P<index>[0-9]+)$")


class ReplicasError(DevstackError, ValueError):
    """`PHOTOCHANGER_REPLICAS` does not say a replica count per known service."""


def parse_replicas(text: str | None, services: Iterable[str]) -> dict[str, int]:
    """The count of every service (1 unless `text` names it). Raises `ReplicasError`."""
    known = list(services)
    counts = dict.fromkeys(known, 1)
    if text is None or not text.strip():
        return counts
    seen: set[str] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise ReplicasError(
                f"{ENV_REPLICAS}={text!r}: empty item (write service=count items separated by "
                "single commas)"
            )
        match = _ITEM.match(item)
        if match is None:
            raise ReplicasError(
                f"{ENV_REPLICAS}: {item!r} is not service=count "
                f'(e.g. {ENV_REPLICAS}="api=2,provider-gemini=3")'
            )
        service, count = match["service"], match["count"]
        if service not in counts:
            raise ReplicasError(
                f"{ENV_REPLICAS}: {service!r} is not a service of this platform "
                f"(services: {', '.join(known)})"
            )
        if service in seen:
            raise ReplicasError(f"{ENV_REPLICAS}: {service!r} is named twice")
        if not count.isdigit() or not 1 <= int(count) <= MAX_REPLICAS:
            raise ReplicasError(
                f"{ENV_REPLICAS}: {service}={count!r}: the count must be a whole number "
                f"from 1 to {MAX_REPLICAS}"
            )
        seen.add(service)
        counts[service] = int(count)
    return counts


def replica_name(service: str, index: int) -> str:
    """The process name of replica `index` (1-based) of `service`."""
    if index < 1:
        raise ValueError(f"replica numbers start at 1, not {index}")
    return service if index == 1 else f"{service}.{index}"


def replica_names(service: str, count: int) -> list[str]:
    return [replica_name(service, index) for index in range(1, count + 1)]


def service_of(name: str, services: Iterable[str]) -> str | None:
    """The service a process name belongs to (None for a process that is no service's, such
    as an emulator)."""
    known = set(services)
    if name in known:
        return name
    match = _REPLICA.match(name)
    if match is not None and match["service"] in known and int(match["index"]) >= 2:
        return match["service"]
    return None


def replica_index(name: str) -> int:
    match = _REPLICA.match(name)
    return int(match["index"]) if match is not None else 1


def describe(counts: Mapping[str, int]) -> str:
    """`api=2 dispatcher=1 …` for the banner (the form PHOTOCHANGER_REPLICAS takes)."""
    return " ".join(f"{service}={count}" for service, count in counts.items())
