"""Locating the Java runtime that runs the Kafka broker."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from photochanger_devstack.errors import DevstackError


def java_executable() -> str:
    """Return ``$JAVA_HOME/bin/java`` if set, else ``java`` from PATH (Java 17+ is required)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise DevstackError("Java 17+ is needed to run Kafka: install a JDK or set JAVA_HOME")
    return found


def maven_executable() -> str:
    """Return ``mvn`` from PATH (used once, to download the Kafka jars from Maven Central)."""
    found = shutil.which("mvn")
    if found is None:
        raise DevstackError("Maven (mvn) is needed once to download Kafka from Maven Central")
    return found
