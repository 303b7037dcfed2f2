"""Cache entries that are safe against concurrent and interrupted installs.

An entry is complete only when its marker file holds the expected fingerprint. Installs build
in a temporary location, then rename into place, under an exclusive file lock, so a second
process waits instead of building the same thing twice, and a killed install is never mistaken
for a complete one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

MARKER_NAME = ".complete"


def fingerprint(files: Iterable[Path], *extra: str) -> str:
    """Return a SHA-256 over the names and contents of ``files`` and the ``extra`` strings."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()


def read_marker(directory: Path) -> str | None:
    """Return the fingerprint recorded in ``directory``'s marker, or None if absent."""
    try:
        return (directory / MARKER_NAME).read_text().strip()
    except OSError:
        return None


def write_marker(directory: Path, value: str) -> None:
    """Atomically record ``value`` as ``directory``'s marker."""
    tmp = directory / f"{MARKER_NAME}.{os.getpid()}.tmp"
    tmp.write_text(value + "\n")
    tmp.replace(directory / MARKER_NAME)


def is_complete(directory: Path, expected: str) -> bool:
    """Return True if ``directory`` holds a complete entry with fingerprint ``expected``."""
    return read_marker(directory) == expected


@contextlib.contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (blocks until other holders release it)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
