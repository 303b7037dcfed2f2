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


def _provider(module: str) -> Callable[[str], KafkaBroker]:
    def build(media_dir: str) -> KafkaBroker:
        import importlib

        from photochanger_runtime.providers.service import build_registry

        app = importlib.import_module(f"{module}.app")
        settings = _offline(app.Settings, media_dir)
        return build_registry(app.PROVIDER_ID, settings, app.build_adapter, SystemClock())[1]

    return build


#: service → (what it does, how to build its broker offline)
SERVICES: dict[str, tuple[str, Callable[[str], KafkaBroker]]] = {
    "api": (
        "Creates jobs (`jobs.created`), reads every final status (`jobs.status`, no consumer "
        "group) to answer waiting requests, finalizes timeouts and cancels.",
        _api,
    ),
    "dispatcher": (
        "Routes each created job to its provider's request topic, or finalizes it.",
        _dispatcher,
    ),
    "provider-gemini": (
        "Runs Gemini jobs; hands a job to a fallback provider's topic when the slot says so.",
        _provider("photochanger_provider_gemini"),
    ),
    "provider-turbotext": (
        "Runs Turbotext jobs; hands a job to a fallback provider's topic when the slot says so.",
        _provider("photochanger_provider_turbotext"),
    ),
    "ttl-reaper": ("Finalizes jobs past their deadline.", _reaper),
}


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
