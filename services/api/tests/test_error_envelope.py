"""Every failure reaches the client as the JSON envelope, whatever raised it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from photochanger_api.errors import install_error_handlers
from photochanger_runtime.media import MediaUnavailable
from pymongo.errors import ServerSelectionTimeoutError


def _client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/media-away")
    async def media_away() -> None:
        raise MediaUnavailable("the S3 store failed: GenericError")

    @app.get("/database-away")
    async def database_away() -> None:
        raise ServerSelectionTimeoutError("no server")

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug with a secret-looking text: key=abc")

    # the server re-raises a bug after answering (for its own log): answer, do not raise here
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("path", "dependency"), [("/media-away", "media"), ("/database-away", "database")]
)
def test_an_unavailable_dependency_answers_503_naming_it(path: str, dependency: str) -> None:
    response = _client().get(path)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("service_unavailable", {"dependency": dependency})


def test_a_bug_answers_500_in_the_envelope_without_its_text() -> None:
    response = _client().get("/bug")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal error", "details": {}}
    }
    assert "secret" not in response.text
