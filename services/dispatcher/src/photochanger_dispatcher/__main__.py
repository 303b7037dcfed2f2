"""`python -m photochanger_dispatcher`: run the dispatcher."""

from __future__ import annotations

from .app import run


def main() -> None:
    run()


if __name__ == "__main__":
    main()
