"""The console's two dictionaries: the same keys and placeholders in Russian and English,
every key the code asks for present, and the Russian one actually Russian."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
from photochanger_api.console.routes import asset

STATIC = resources.files("photochanger_api.console").joinpath("static")
LANGUAGES = ("en", "ru")
# names that are the same in both languages (brand names)
SAME_IN_BOTH = {"label.gemini", "label.turbotext", "label.openai"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def dictionary(lang: str) -> dict[str, Any]:
    body = asset(f"i18n/{lang}.json")
    assert body is not None, f"the console serves no {lang} dictionary"
    loaded: dict[str, Any] = json.loads(body)
    return loaded


def forms(value: str | dict[str, str]) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [value]


def code_files() -> dict[str, str]:
    files = {"index.html": STATIC.joinpath("index.html").read_text()}
    for folder in (STATIC, STATIC.joinpath("pages")):
        for path in folder.iterdir():
            if path.name.endswith(".js"):
                files[path.name] = path.read_text()
    return files


def test_both_languages_have_the_same_keys() -> None:
    en, ru = (dictionary(lang) for lang in LANGUAGES)
    assert set(en) - set(ru) == set(), "keys missing in Russian"
    assert set(ru) - set(en) == set(), "keys missing in English"


def test_each_translation_keeps_the_placeholders_of_the_english_text() -> None:
    en, ru = (dictionary(lang) for lang in LANGUAGES)
    for key, value in en.items():
        wanted = {name for text in forms(value) for name in _PLACEHOLDER.findall(text)}
        for text in forms(ru[key]):
            assert set(_PLACEHOLDER.findall(text)) <= wanted, (key, text)


@pytest.mark.parametrize(
    ("lang", "needed"), [("en", {"one", "other"}), ("ru", {"one", "few", "many", "other"})]
)
def test_plural_texts_have_every_form_the_language_needs(lang: str, needed: set[str]) -> None:
    for key, value in dictionary(lang).items():
        if isinstance(value, dict):
            assert needed <= set(value), (lang, key)


def test_the_russian_dictionary_is_russian() -> None:
    en, ru = (dictionary(lang) for lang in LANGUAGES)
    for key, value in ru.items():
        if key in SAME_IN_BOTH:
            continue
        for text in forms(value):
            assert re.search("[\u0400-\u04ff]", text), (key, text)
        assert value != en[key], key


def test_every_key_the_console_asks_for_exists() -> None:
    en = dictionary("en")
    asked: set[str] = set()
    for name, text in code_files().items():
        found = set(re.findall(r"\bt\(\s*\"([a-z0-9_.]+)\"", text))
        found |= set(re.findall(r"data-i18n(?:-label)?=\"([a-z0-9_.]+)\"", text))
        assert all(key in en for key in found), (name, sorted(found - set(en)))
        asked |= found
    # keys the code builds from names
    asked |= {f"stats.unit_{unit}" for unit in ("minutes", "hours", "days")}
    asked |= {f"common.{unit}" for unit in ("minutes", "hours", "days")}
    assert all(key in en for key in asked)
    assert len(asked) > 200


def test_every_help_topic_has_its_heading_and_paragraphs() -> None:
    en = dictionary("en")
    help_page = STATIC.joinpath("pages", "help.js").read_text()
    topics = re.findall(r"^  (\w+): (\d+),$", help_page, re.MULTILINE)
    assert len(topics) >= 5
    for topic, count in topics:
        assert f"help.{topic}.title" in en
        for n in range(1, int(count) + 1):
            assert f"help.{topic}.{n}" in en
        assert f"help.{topic}.{int(count) + 1}" not in en, f"help.{topic} has more paragraphs"


def test_the_dictionaries_are_served_as_json() -> None:
    assert asset("i18n/ru.json") is not None
    assert asset("i18n/../routes.py") is None and asset("i18n/xx.JSON") is None
