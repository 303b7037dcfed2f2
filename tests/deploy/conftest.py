"""Fixtures of the deployment tests: the offline tools and the rendered overlays.

kustomize, promtool and our `deploycheck` are built from source with the local Go toolchain by
tools/deploycheck/install-tools.sh into ~/.cache/photochanger/bin (promtool takes a few
minutes the first time). That happens once, before the first test, outside pytest-timeout's
per-test limit. A test that needs a tool which could not be built is skipped with the reason;
every other problem fails the test.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def _install_all(config: pytest.Config, names: Iterable[str] = TOOL_NAMES) -> dict[str, Tool]:
    tools = config.stash.get(_TOOLS, None)
    if tools is None:
        tools = config.stash[_TOOLS] = {}
    for name in names:
        if name not in tools:
            tools[name] = install_tool(name, lambda m: _say(config, m))
    return tools


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the tools before the first deployment test runs (not counted in its timeout)."""
    if session.config.option.collectonly:
        return
    # the tools the selected tests use (their fixture closures name them)
    needed = {
        name
        for item in session.items
        if Path(item.path).resolve().is_relative_to(_HERE)
        for name in TOOL_NAMES
        if name in getattr(item, "fixturenames", ())
    }
    _install_all(session.config, sorted(needed))
    if any(Path(item.path).name == "test_api_server.py" for item in session.items):
        _install_kubernetes(session.config)


def _install_kubernetes(config: pytest.Config) -> None:
    """kube-apiserver (built once from the Go module proxy, about 5 minutes on 2 cores) and the
    CRDs of the custom kinds (Go modules and Maven Central), into the cache. A failure is left
    for the test's fixture to report."""
    from photochanger_devstack import crds, kubeapi
    from photochanger_devstack.errors import DevstackError

    try:
        if not kubeapi.is_built():
            _say(config, f"building kube-apiserver {kubeapi.KUBERNETES_VERSION} (first time only)")
        kubeapi.ensure_built()
        crds.ensure_installed()
    except DevstackError as exc:
        _say(config, f"kube-apiserver or the CRDs could not be installed: {exc}")


def _tool(request: pytest.FixtureRequest, name: str) -> Path:
    tool = _install_all(request.config, [name])[name]
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
