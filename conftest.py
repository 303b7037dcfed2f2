"""Markers for every test in the repository: a test that needs no server is a `unit` test
(marked here, so `pytest -m unit` selects exactly those); `integration`, `e2e` and
`contract` are set by the tests themselves."""

from __future__ import annotations

import pytest

_NEEDS_MORE = ("integration", "e2e", "contract")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(name) for name in _NEEDS_MORE):
            item.add_marker(pytest.mark.unit)
