"""The published contracts, generated from the running code: each service's composition root
is built offline (nothing connects) and FastStream describes the broker it really has.

    uv run photochanger-devstack contracts     # rewrites spec/contracts/asyncapi/*.json"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import svcs
from faststream.kafka import KafkaBroker
from photochanger_runtime.clock import SystemClock
from photochanger_runtime.config import repository_root
from photochanger_runtime.messaging.asyncapi import describe

from photochanger_devstack import topology

ASYNCAPI_DIR = Path("spec") / "contracts" / "asyncapi"


def _offline(settings_cls: Any, media_dir: str) -> Any:
    return settings_cls(
        kafka_bootstrap_servers="kafka:9092",
        mongodb_uri="mongodb://mongodb:27017/",
        media_url=Path(media_dir).as_uri(),
    )


def _api(media_dir: str) -> KafkaBroker:
    from photochanger_api.app import wire
    from photochanger_api.settings import ApiSettings

    broker, _ = wire(_offline(ApiSettings, media_dir), SystemClock(), svcs.Registry())
    return broker


def _dispatcher(media_dir: str) -> KafkaBroker:
    from photochanger_dispatcher.app import Settings, build

    return build(_offline(Settings, media_dir), SystemClock())[1]


def _reaper(media_dir: str) -> KafkaBroker:
    from photochanger_ttl_reaper.app import Settings, build

    return build(_offline(Settings, media_dir), SystemClock())[1]


def _provider(provider_id: str) -> Callable[[str], KafkaBroker]:
    def build(media_dir: str) -> KafkaBroker:
        from photochanger_runtime.providers.plugins import adapter_factory
        from photochanger_runtime.providers.service import (
            ProviderServiceSettings,
            build_registry,
        )

        settings = _offline(ProviderServiceSettings, media_dir)
        settings.service_name = f"provider-{provider_id}"
        factory = adapter_factory(provider_id)
        return build_registry(provider_id, settings, factory, SystemClock())[1]

    return build


_CORE: dict[str, tuple[str, Callable[[str], KafkaBroker]]] = {
    "api": (
        "Creates jobs (`jobs.created`), reads every final status (`jobs.status`, no consumer "
        "group) to answer waiting requests, finalizes timeouts and cancels.",
        _api,
    ),
    "dispatcher": (
        "Routes each created job to its provider's request topic, or finalizes it.",
        _dispatcher,
    ),
    "ttl-reaper": ("Finalizes jobs past their deadline.", _reaper),
}


def _services() -> dict[str, tuple[str, Callable[[str], KafkaBroker]]]:
    described: dict[str, tuple[str, Callable[[str], KafkaBroker]]] = {}
    for service in topology.services():
        if service.provider_id is None:
            described[service.name] = _CORE[service.name]
            continue
        name = topology.provider(service.provider_id).display_name or service.provider_id
        described[service.name] = (
            f"Runs jobs on {name}; hands a job to a fallback provider's topic when the slot "
            "says so.",
            _provider(service.provider_id),
        )
    return described


#: service → (what it does, how to build its broker offline): the core services and one
#: provider service per entry of configs/providers.json
SERVICES: dict[str, tuple[str, Callable[[str], KafkaBroker]]] = _services()


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="photochanger-contracts-") as media_dir:
        return {
            name: describe(build(media_dir), service=name, summary=summary)
            for name, (summary, build) in SERVICES.items()
        }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_contracts(root: Path | None = None) -> list[Path]:
    target = (root or repository_root()) / ASYNCAPI_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in asyncapi_documents().items():
        path = target / f"{name}.json"
        path.write_text(render(document))
        written.append(path)
    return written
