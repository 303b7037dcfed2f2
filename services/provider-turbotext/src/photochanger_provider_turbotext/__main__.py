"""`python -m photochanger_provider_turbotext`: run the Turbotext provider service."""

from __future__ import annotations

from .app import run


def main() -> None:
    run()


if __name__ == "__main__":
    main()
