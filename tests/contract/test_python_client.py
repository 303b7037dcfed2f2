"""The Python client (libs/client) speaks the published document: its models have exactly the
fields of the schemas they parse, its statuses are the document's, and every request it makes
is an operation there."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing

import pytest
from photochanger_api.openapi import openapi_document
from photochanger_client import client as client_module
from photochanger_client import models

pytestmark = pytest.mark.contract

MODELS = {
    "ClientJobView": models.Job,
    "JobUrls": models.JobUrls,
    "ResultView": models.Result,
    "ClientJobError": models.ClientJobError,
    "Timings": models.Timings,
}


def test_each_model_has_the_fields_of_its_schema() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for schema, model in MODELS.items():
        fields = {f.name for f in dataclasses.fields(model)}
        assert fields == set(schemas[schema]["properties"]), schema


def test_the_statuses_are_the_documents() -> None:
    schema = openapi_document()["components"]["schemas"]["ClientJobView"]
    assert set(typing.get_args(models.Status)) == set(schema["properties"]["status"]["enum"])


def test_every_request_the_client_makes_is_a_documented_operation() -> None:
    paths = openapi_document()["paths"]
    source = inspect.getsource(client_module)
    made = re.findall(r'\.(get|post|delete|stream)\(\s*(?:"(GET)",\s*)?f?"(/v1/[^"]*)"', source)
    assert len(made) >= 5
    for method, streamed, path in made:
        documented = re.sub(r"\{[^}]+\}", "{job_id}", path)
        verb = (streamed or method).lower()
        assert verb in paths[documented], (verb, documented)
