"""`python -m photochanger_ttl_reaper`: run the ttl-reaper."""

from __future__ import annotations

from .app import run


def main() -> None:
    run()


if __name__ == "__main__":
    main()
