"""`photochanger-service [NAME]`: run one PhotoChanger service, named by the argument or by
`PHOTOCHANGER_SERVICE_NAME` (what the shared Dockerfile sets). Services are found through the
entry point group `photochanger.services`, so an image is one Dockerfile with another name."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .providers.plugins import service_entry, service_names

ENV_SERVICE_NAME = "PHOTOCHANGER_SERVICE_NAME"


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    name = args[0] if args else os.environ.get(ENV_SERVICE_NAME, "")
    try:
        entry = service_entry(name)
    except KeyError:
        known = ", ".join(service_names())
        sys.exit(f"photochanger-service: unknown service {name!r} (installed: {known})")
    # the service's own settings read the name (logs, traces, metrics) from the environment
    os.environ.setdefault(ENV_SERVICE_NAME, name)
    entry()


if __name__ == "__main__":
    main()
