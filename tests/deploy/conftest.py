"""Fixtures of the deployment tests: the offline tools and the rendered overlays.

kustomize, promtool and our `deploycheck` are built from source with the local Go toolchain by
tools/deploycheck/install-tools.sh into ~/.cache/photochanger/bin (promtool takes a few
minutes the first time). That happens once, before the first test, outside pytest-timeout's
per-test limit. A test that needs a tool which could not be built is skipped with the reason;
every other problem fails the test.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import K8S, TOOL_NAMES, Tool, install_tool, render

_TOOLS = pytest.StashKey[dict[str, Tool]]()
_HERE = Path(__file__).resolve().parent


def _say(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
        reporter.ensure_newline()
        reporter.write_line(f"deploy tools: {message}")


def _install_all(config: pytest.Config) -> dict[str, Tool]:
    tools = config.stash.get(_TOOLS, None)
    if tools is None:
        tools = {name: install_tool(name, lambda m: _say(config, m)) for name in TOOL_NAMES}
        config.stash[_TOOLS] = tools
    return tools


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the tools before the first deployment test runs (not counted in its timeout)."""
    if session.config.option.collectonly:
        return
    if any(Path(item.path).resolve().is_relative_to(_HERE) for item in session.items):
        _install_all(session.config)


def _tool(request: pytest.FixtureRequest, name: str) -> Path:
    tool = _install_all(request.config)[name]
    if tool.path is None:
        pytest.skip(f"{name} could not be installed, so this check cannot run: {tool.problem}")
    return tool.path


@pytest.fixture(scope="session")
def kustomize(request: pytest.FixtureRequest) -> Path:
    return _tool(request, "kustomize")


@pytest.fixture(scope="session")
def promtool(request: pytest.FixtureRequest) -> Path:
    return _tool(request, "promtool")


@pytest.fixture(scope="session")
def deploycheck(request: pytest.FixtureRequest) -> Path:
    return _tool(request, "deploycheck")


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    """The rendered dev and prod overlays (a failing render fails every test that uses it)."""
    return {overlay: render(kustomize, K8S / "overlays" / overlay) for overlay in ("dev", "prod")}
