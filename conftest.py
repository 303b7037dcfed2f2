"""Fixtures and markers for every test in the repository. A test that needs no server is a
`unit` test (marked here, so `pytest -m unit` selects exactly those); `integration`, `e2e`,
`contract` and `deploy` (tests/deploy: built tools and a Kubernetes API server) are set by the
tests themselves."""

from __future__ import annotations

import pytest

# The servers (`infra`, `s3_server`) and the running platform (`stack`, `api`, `db`, `media`,
# `emulators`) for every test of the repository, so that a provider's own end-to-end tests in
# services/provider-<id>/tests share the session's one platform with tests/e2e.
pytest_plugins = ("tests.support.infra_fixtures", "tests.support.platform_fixtures")

_NEEDS_MORE = ("integration", "e2e", "contract", "deploy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(name) for name in _NEEDS_MORE):
            item.add_marker(pytest.mark.unit)
