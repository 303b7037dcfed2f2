"""Local infrastructure for PhotoChanger: a real Kafka broker and FerretDB, without Docker.

The servers are installed from package registries (Maven Central, the Go module proxy) into a
per-user cache keyed by version, started as background processes on loopback ports, and stopped
cleanly. Entry points:

- :func:`photochanger_devstack.infra.local_infrastructure` for tests and scripts;
- ``python -m photochanger_devstack`` (``install``, ``infra``, ``stop``) for people.
"""

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.infra import Infrastructure, local_infrastructure

__all__ = ["DevstackError", "Infrastructure", "local_infrastructure"]
