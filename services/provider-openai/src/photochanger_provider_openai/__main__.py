"""`python -m photochanger_provider_openai`: run the OpenAI provider service."""

from __future__ import annotations

from .app import run


def main() -> None:
    run()


if __name__ == "__main__":
    main()
