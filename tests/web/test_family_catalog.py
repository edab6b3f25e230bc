"""The family page's catalogs: every string the page shows is translated, placeholders intact; the language choice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

from api.web.family import LANGUAGES, LOCALE_DIR, TEMPLATES, WEB_DIR, choose_language, render, translations

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def page_strings() -> set[str]:
    """The msgids of the page, extracted as ``make messages`` does (api/web/babel.cfg)."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = {m[1] for m in extract_from_file("python", str(WEB_DIR / "family.py"), keywords=keywords)}
    found |= {m[1] for m in extract_from_file("jinja2", str(TEMPLATES / "family.html"), options={"extensions": "jinja2.ext.i18n"})}
    return {str(s) for s in found}


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_string_is_translated_with_its_placeholders(language: str) -> None:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "family.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    entries = {str(m.id): m for m in catalog if m.id}
    strings = page_strings()
    assert strings - entries.keys() == set(), "untranslated: run `make messages` and translate"
    assert entries.keys() - strings == set(), "obsolete entries"
    for msgid in strings:
        m = entries[msgid]
        assert m.string and not m.fuzzy, msgid
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(str(m.string))), msgid
    pot = read_po((LOCALE_DIR / "family.pot").open("rb"))
    assert {str(m.id) for m in pot if m.id} == strings, "family.pot is stale: run `make messages`"


def test_the_page_is_rendered_in_the_chosen_language() -> None:
    assert '<html lang="es"' in render("es") and "Quién puede ver el expediente ahora" in render("es")
    assert "Who can see the record now" in render("en")
    assert translations("es").gettext("Revoke") == "Revocar"


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [
        (None, "es-MX,es;q=0.9,en;q=0.8", "es"),
        (None, "fr-CA, en;q=0.5", "en"),
        (None, "de, es;q=0.1", "es"),
        (None, "es;q=0, en", "en"),
        ("es", "en-US", "es"),
        ("en", "es", "en"),
        ("xx", "es", "es"),
        (None, None, "en"),
        (None, "garbage;;;q=abc", "en"),
    ],
)
def test_language_follows_the_switch_then_the_browser(requested: str | None, header: str | None, expected: str) -> None:
    assert choose_language(requested, header) == expected


def test_catalog_files_are_packaged() -> None:
    assert (Path(LOCALE_DIR) / "es" / "LC_MESSAGES" / "family.po").is_file()
