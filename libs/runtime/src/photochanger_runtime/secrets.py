"""Secrets from files, and the refusal to run production on placeholders.

Any `PHOTOCHANGER_<NAME>` (and the media store's `AWS_<NAME>`) may be given as
`<VARIABLE>_FILE=/path`: the file's content, without its trailing newline, is the value. This
is how Kubernetes and Compose hand secrets over as mounted files rather than environment
variables (which leak into `/proc/<pid>/environ`, crash reports and child processes). A value
set directly wins over a file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

FILE_SUFFIX: Final = "_FILE"
_PREFIXES: Final = ("PHOTOCHANGER_", "AWS_")
#: the media store's static keys are optional: a Secret without them (no file where the
#: variable points) leaves the standard AWS credential chain to find credentials (web identity
#: / IRSA, EKS Pod Identity, container or instance metadata)
OPTIONAL_FILES: Final = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
)
#: what example and placeholder values look like (deploy/k8s/secret.example.yaml, the dev
#: overlay, documentation)
_PLACEHOLDER: Final = re.compile(
    r"placeholder|change[-_ ]?me|replace[-_ ]?me|<[^>]*>|example\.(com|org)|USER:PASSWORD@"
    r"|^x+$|^\*+$",
    re.I,
)


class SettingsRefused(Exception):
    """A process refuses its configuration. Deliberately not a ValueError: pydantic would
    wrap it in a ValidationError that prints the input, secrets included."""


class PlaceholderSecret(SettingsRefused):
    """A process outside a local run was given a placeholder where a secret belongs."""


def read_secret_file(path: str | Path) -> str:
    return Path(path).read_text().rstrip("\r\n")


def with_file_variables(env: Mapping[str, str]) -> dict[str, str]:
    """`env` plus the value of every `<NAME>_FILE` whose `<NAME>` is not set."""
    values = dict(env)
    for name, path in env.items():
        if not name.endswith(FILE_SUFFIX) or not name.startswith(_PREFIXES) or not path:
            continue
        target = name.removesuffix(FILE_SUFFIX)
        if values.get(target):
            continue
        if target in OPTIONAL_FILES and not Path(path).exists():
            continue
        values[target] = read_secret_file(path)
    return values


def is_placeholder(value: str) -> bool:
    return not value.strip() or bool(_PLACEHOLDER.search(value))


def refuse_placeholders(secrets: Iterable[tuple[str, str | None]]) -> None:
    """Raise `PlaceholderSecret` naming every secret (never its value) that is a placeholder."""
    bad = sorted(name for name, value in secrets if value is not None and is_placeholder(value))
    if bad:
        raise PlaceholderSecret(
            "refusing to start outside a local run with placeholder secrets: " + ", ".join(bad)
        )
