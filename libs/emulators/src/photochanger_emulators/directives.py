"""Scenario directives: how a black-box client steers an emulator down a given path.

A directive list looks like ``slow=3, error=429, no-image`` (items separated by commas,
semicolons or whitespace). It reaches an emulator in one of two ways:

* in the prompt text, wrapped in a token: ``[emulate: slow=3, error=503]`` (several tokens
  may appear; later ones win);
* in the (first) uploaded image: as the value of a PNG text chunk with keyword ``emulate``,
  or in a JPEG comment (COM segment) reading ``emulate: slow=3, error=503``.

When both are present they are merged item by item and the prompt wins.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

Stage = Literal["create", "result"]

_TOKEN = re.compile(r"\[\s*emulate\s*:(?P<body>[^\]]*)\]", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,;\s]+")

_FLAGS = frozenset({"no-image", "blocked", "hang"})
_VALUED = frozenset({"slow", "error", "polls", "fail-times", "at", "result-url"})

#: Error code implied by ``fail-times`` when no failure directive names one.
DEFAULT_FAILURE_CODE = 503

MAX_SLOW_SECONDS = 3600.0
MAX_COUNT = 1000


class DirectiveError(ValueError):
    """A directive list that does not follow the grammar."""


@dataclass(frozen=True)
class Directives:
    """The parsed, validated set of directives for one request."""

    slow: float = 0.0
    error: int | None = None
    no_image: bool = False
    blocked: bool = False
    hang: bool = False
    polls: int | None = None
    fail_times: int | None = None
    at: Stage | None = None
    #: Turbotext: the result URL `get_result` names instead of the emulator's own
    result_url: str | None = None

    @property
    def has_failure(self) -> bool:
        """True when a directive makes the request fail or never finish."""
        return self.error is not None or self.no_image or self.blocked or self.hang

    def without_failures(self) -> Directives:
        """The same directives with every failure removed (``slow``/``polls`` stay)."""
        return replace(self, error=None, no_image=False, blocked=False, hang=False)

    def canonical(self) -> str:
        """A stable text form, used to key ``fail-times`` counters."""
        items: list[str] = []
        if self.slow:
            items.append(f"slow={self.slow:g}")
        if self.error is not None:
            items.append(f"error={self.error}")
        if self.no_image:
            items.append("no-image")
        if self.blocked:
            items.append("blocked")
        if self.hang:
            items.append("hang")
        if self.polls is not None:
            items.append(f"polls={self.polls}")
        if self.fail_times is not None:
            items.append(f"fail-times={self.fail_times}")
        if self.at is not None:
            items.append(f"at={self.at}")
        if self.result_url is not None:
            items.append(f"result-url={self.result_url}")
        return ",".join(items)


NO_DIRECTIVES = Directives()


def find_in_text(text: str) -> list[str]:
    """Return the bodies of every ``[emulate: ...]`` token found in ``text``."""
    return [match.group("body") for match in _TOKEN.finditer(text)]


def parse_items(body: str) -> dict[str, str | None]:
    """Split one directive list into ``name -> value`` (``None`` for flags)."""
    items: dict[str, str | None] = {}
    for raw in _SEPARATORS.split(body.strip()):
        if not raw:
            continue
        name, sep, value = raw.partition("=")
        name = name.strip().lower()
        if name in _FLAGS:
            if sep:
                raise DirectiveError(f"directive {name!r} takes no value")
            items[name] = None
        elif name in _VALUED:
            if not sep or not value:
                raise DirectiveError(f"directive {name!r} needs a value ({name}=...)")
            items[name] = value.strip()
        else:
            raise DirectiveError(f"unknown directive {name!r}")
    return items


def build(items: Mapping[str, str | None]) -> Directives:
    """Validate merged items and turn them into :class:`Directives`."""
    result = Directives(
        no_image="no-image" in items,
        blocked="blocked" in items,
        hang="hang" in items,
    )
    if (value := items.get("slow")) is not None:
        result = replace(result, slow=_number("slow", value, 0.0, MAX_SLOW_SECONDS))
    if (value := items.get("error")) is not None:
        result = replace(result, error=_integer("error", value, 400, 599))
    if (value := items.get("polls")) is not None:
        result = replace(result, polls=_integer("polls", value, 0, MAX_COUNT))
    if (value := items.get("fail-times")) is not None:
        result = replace(result, fail_times=_integer("fail-times", value, 1, MAX_COUNT))
    if (value := items.get("at")) is not None:
        stage = value.lower()
        if stage == "create":
            result = replace(result, at="create")
        elif stage == "result":
            result = replace(result, at="result")
        else:
            raise DirectiveError("directive 'at' must be 'create' or 'result'")
    if (value := items.get("result-url")) is not None:
        if not value.startswith(("http://", "https://", "/")) or len(value) > 2000:
            raise DirectiveError("directive 'result-url' must be an http(s) URL or a path")
        result = replace(result, result_url=value)
    return result


def collect(image_text: str | None, prompt_texts: Iterable[str]) -> Directives:
    """Merge the image's directive list and the prompt tokens (the prompt wins)."""
    merged: dict[str, str | None] = {}
    if image_text is not None:
        merged.update(parse_items(image_text))
    for text in prompt_texts:
        for body in find_in_text(text):
            merged.update(parse_items(body))
    return build(merged)


def _number(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DirectiveError(f"directive {name!r} needs a number, got {value!r}") from None
    if not low <= number <= high:
        raise DirectiveError(f"directive {name!r} must be between {low:g} and {high:g}")
    return number


def _integer(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise DirectiveError(f"directive {name!r} needs an integer, got {value!r}") from None
    if not low <= number <= high:
        raise DirectiveError(f"directive {name!r} must be between {low} and {high}")
    return number


class FailureGate:
    """Applies ``fail-times=K``: the first K matching requests fail, later ones succeed.

    Requests match when they carry the same directives and the same image (sha256).
    """

    def __init__(self) -> None:
        self._seen: Counter[tuple[str, str]] = Counter()

    def apply(self, directives: Directives, image_key: str) -> Directives:
        """Return the directives that take effect for this one request."""
        if directives.fail_times is None:
            return directives
        key = (directives.canonical(), image_key)
        earlier = self._seen[key]
        self._seen[key] = earlier + 1
        if earlier >= directives.fail_times:
            return directives.without_failures()
        if not directives.has_failure:
            return replace(directives, error=DEFAULT_FAILURE_CODE)
        return directives

    def reset(self) -> None:
        self._seen.clear()
