"""The contracts in spec/contracts/ are what the code publishes, byte for byte.

When one of these fails, regenerate the file (commands below) and review the diff: a change
there is a change for every client of the api or consumer of the events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from photochanger_api.openapi import openapi_document, render
from photochanger_devstack import topology
from photochanger_devstack.contracts import ASYNCAPI_DIR, SERVICES, asyncapi_documents
from photochanger_devstack.contracts import render as render_json

pytestmark = pytest.mark.contract

SPEC = Path(__file__).resolve().parents[2] / "spec" / "contracts"


def test_openapi_yaml_is_the_running_apps_schema() -> None:
    committed = (SPEC / "openapi.yaml").read_text()

    assert yaml.safe_load(committed) == openapi_document(), (
        "spec/contracts/openapi.yaml is stale: "
        "uv run python -m photochanger_api.openapi > spec/contracts/openapi.yaml"
    )
    assert committed == render(openapi_document())


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, dict[str, Any]]:
    return asyncapi_documents()


def test_each_services_asyncapi_is_what_its_broker_declares(
    asyncapi: dict[str, dict[str, Any]],
) -> None:
    root = SPEC.parents[1]
    committed = {p.stem for p in (root / ASYNCAPI_DIR).glob("*.json")}
    assert committed == set(SERVICES)
    for service, document in asyncapi.items():
        path = root / ASYNCAPI_DIR / f"{service}.json"
        assert json.loads(path.read_text()) == document, (
            f"{path} is stale: uv run photochanger-devstack contracts"
        )
        assert path.read_text() == render_json(document)


def test_the_openapi_document_shows_every_providers_slot_settings() -> None:
    from photochanger_contracts.slots import SETTINGS_MODELS

    document = openapi_document()
    schemas = document["components"]["schemas"]
    by_provider = schemas["SlotUpdate"]["properties"]["settings"]["x-settings-by-provider"]
    assert set(by_provider) == set(topology.provider_ids()) == set(SETTINGS_MODELS)
    for provider, ref in by_provider.items():
        schema = schemas[ref["$ref"].rsplit("/", 1)[-1]]
        assert set(schema["properties"]) == set(SETTINGS_MODELS[provider].model_fields)


def test_every_admin_operation_documents_its_errors_in_the_envelope() -> None:
    document = openapi_document()
    envelope = "#/components/schemas/ErrorEnvelope"
    for path, operations in document["paths"].items():
        if not path.startswith("/api/") or path.startswith("/api/ingest"):
            continue
        for method, operation in operations.items():
            statuses = operation["responses"]
            if path in ("/api/session/refresh", "/api/session/end"):  # the console's cookie
                assert "403" in statuses, (method, path)
                assert operation["security"] == [{"sessionCookie": []}], (method, path)
            elif path != "/api/login":
                assert {"401", "403"} <= set(statuses), (method, path)
                assert operation["security"] == [{"adminToken": []}], (method, path)
            for status, response in statuses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": envelope}, (method, path, status)


def test_every_kafka_topic_is_consumed_and_produced_by_some_service(
    asyncapi: dict[str, dict[str, Any]],
) -> None:
    from photochanger_contracts import topics

    sent: set[str] = set()
    received: set[str] = set()
    for document in asyncapi.values():
        channels = document["channels"]
        for operation in document["operations"].values():
            address = channels[operation["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
            (sent if operation["action"] == "send" else received).add(address)

    every = set(topics.all_topics(topology.provider_ids()))
    assert sent == every
    # the dead-letter topic is for operators; every other topic has a consumer
    assert received == every - {topics.DEAD_LETTER}


def test_every_event_payload_is_a_versioned_contract_model(
    asyncapi: dict[str, dict[str, Any]],
) -> None:
    for service, document in asyncapi.items():
        for name, schema in document["components"]["schemas"].items():
            if "schema_version" in schema.get("properties", {}):
                assert schema["properties"]["schema_version"]["const"] == 2, (service, name)
