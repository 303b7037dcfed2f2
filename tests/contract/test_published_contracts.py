"""The contracts in spec/contracts/ are what the code publishes, byte for byte.

When one of these fails, regenerate the file (commands below) and review the diff: a change
there is a change for every client of the api or consumer of the events."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from photochanger_api.openapi import openapi_document, render
from photochanger_runtime.asyncapi import asyncapi_document

SPEC = Path(__file__).resolve().parents[2] / "spec" / "contracts"


def test_openapi_yaml_is_the_running_apps_schema() -> None:
    committed = (SPEC / "openapi.yaml").read_text()

    assert yaml.safe_load(committed) == openapi_document(), (
        "spec/contracts/openapi.yaml is stale: "
        "uv run python -m photochanger_api.openapi > spec/contracts/openapi.yaml"
    )
    assert committed == render(openapi_document())


def test_asyncapi_json_is_generated_from_the_event_models() -> None:
    committed = json.loads((SPEC / "asyncapi.json").read_text())

    assert committed == asyncapi_document(), (
        "spec/contracts/asyncapi.json is stale: "
        "uv run python -m photochanger_runtime.asyncapi > spec/contracts/asyncapi.json"
    )


def test_every_admin_operation_documents_its_errors_in_the_envelope() -> None:
    document = openapi_document()
    envelope = "#/components/schemas/ErrorEnvelope"
    for path, operations in document["paths"].items():
        if not path.startswith("/api/") or path.startswith("/api/ingest"):
            continue
        for method, operation in operations.items():
            statuses = operation["responses"]
            if path != "/api/login":
                assert {"401", "403"} <= set(statuses), (method, path)
                assert operation["security"] == [{"adminToken": []}], (method, path)
            for status, response in statuses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": envelope}, (method, path, status)


def test_every_kafka_topic_is_in_the_asyncapi_document() -> None:
    from photochanger_contracts import topics

    addresses = {c["address"] for c in asyncapi_document()["channels"].values()}

    assert addresses == set(topics.all_topics(("gemini", "turbotext")))
