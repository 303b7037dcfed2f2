"""deploy/generated/ is committed (GitOps tools render the repository as it is) and must be
exactly what `make manifests` writes from configs/providers.json, deploy/templates/,
spec/contracts/asyncapi/ and deploy/mongodb/roles.js."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from photochanger_devstack.manifests import GENERATED, write_manifests

from tests.deploy.support import REPO

pytestmark = pytest.mark.deploy

#: what write_manifests reads
_INPUTS = (
    Path("configs"),
    Path("deploy") / "templates",
    Path("deploy") / "mongodb",
    Path("deploy") / "prometheus",
    Path("spec") / "contracts" / "asyncapi",
    Path("docker-compose.yml"),
)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _regenerate(into: Path, source: Path = REPO) -> dict[str, bytes]:
    for item in _INPUTS:
        if (source / item).is_dir():
            shutil.copytree(source / item, into / item)
        else:
            (into / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / item, into / item)
    return _files(write_manifests(into))


def _differences(expected: dict[str, bytes], committed: dict[str, bytes]) -> list[str]:
    def why(name: str) -> str:
        return "missing" if name not in committed else "stale" if name in expected else "extra"

    return [
        f"{name}: {why(name)}"
        for name in sorted(set(expected) | set(committed))
        if expected.get(name) != committed.get(name)
    ]


def test_committed_manifests_are_what_make_manifests_writes(tmp_path: Path) -> None:
    problems = _differences(_regenerate(tmp_path), _files(REPO / GENERATED))
    assert not problems, "run `make manifests` and commit deploy/generated/:\n" + "\n".join(
        problems
    )


def test_the_drift_check_notices_a_changed_catalogue(tmp_path: Path) -> None:
    """A provider's port changed in the catalogue without regenerating: the check fails."""
    source = tmp_path / "source"
    for item in _INPUTS:
        target = source / item
        if (REPO / item).is_dir():
            shutil.copytree(REPO / item, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / item, target)
    catalog = source / "configs" / "providers.json"
    text = catalog.read_text()
    changed = text.replace('"service_port": 8102', '"service_port": 8192', 1)
    assert changed != text
    catalog.write_text(changed)
    problems = _differences(_regenerate(tmp_path / "fresh", source), _files(REPO / GENERATED))
    assert any("stale" in problem for problem in problems)
