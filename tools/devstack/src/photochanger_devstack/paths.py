"""Where things live: the download/build cache, the repository's tool sources, runtime state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from photochanger_devstack.errors import DevstackError

ENV_CACHE_DIR = "PHOTOCHANGER_CACHE_DIR"
ENV_STATE_DIR = "PHOTOCHANGER_STATE_DIR"

# A file that exists only at the top of the PhotoChanger repository.
_REPO_MARKER = Path("tools") / "kafka" / "pom.xml"


def cache_dir() -> Path:
    """Return the per-user cache for downloads and builds (created if missing).

    ``$PHOTOCHANGER_CACHE_DIR`` if set, else ``~/.cache/photochanger``. It lives outside the
    clone so that every clone on the machine shares one Kafka install and one FerretDB build.
    """
    override = os.environ.get(ENV_CACHE_DIR)
    path = Path(override).expanduser() if override else Path.home() / ".cache" / "photochanger"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def repo_root() -> Path:
    """Return the root of the PhotoChanger checkout this package runs from.

    Looked up from this file first (the workspace installs the package in editable mode), then
    from the current directory.
    """
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / _REPO_MARKER).is_file():
                return candidate
    raise DevstackError(
        f"cannot find the PhotoChanger repository ({_REPO_MARKER} is missing); "
        "run from inside the checkout"
    )


def tools_dir() -> Path:
    """Return ``<repo>/tools``, which holds the Kafka POM and the FerretDB launcher sources."""
    return repo_root() / "tools"


def default_state_dir() -> Path:
    """Return the state directory of ``photochanger-devstack infra``: ``./.state`` by default."""
    override = os.environ.get(ENV_STATE_DIR)
    return (Path(override).expanduser() if override else Path.cwd() / ".state").resolve()


@dataclass(frozen=True)
class StateLayout:
    """Runtime files of one local stack below a single root directory."""

    root: Path

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def ferretdb_dir(self) -> Path:
        return self.root / "ferretdb"

    @property
    def env_file(self) -> Path:
        """Shell-sourceable addresses of the running stack (written by ``infra``)."""
        return self.root / "infra.env"

    def pid_files(self) -> list[Path]:
        """Return every pid file recorded below the root."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("*/*.pid"))
