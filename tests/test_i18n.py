"""The message catalogs: the template matches the source, and zh_CN translates all of it."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parent.parent
LOCALE = REPO / "cocon" / "locale"
TEMPLATE = LOCALE / "messages.pot"
ZH_CATALOG = LOCALE / "zh_CN" / "LC_MESSAGES" / "messages.po"
UPDATE_HINT = "run scripts/update-catalogs"
# The keywords scripts/update-catalogs extracts: Babel's defaults plus -k N_.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}


def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _messages(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def _singular(msgid: str | tuple[str, ...]) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def _forms(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def _fields(text: str) -> set[tuple[str, str | None, str]]:
    """Return the (name, conversion, format spec) of every {placeholder} in text."""
    return {
        (name, conversion, spec or "")
        for _literal, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    }


def _placeholder_names(text: str) -> set[str]:
    return {name for name, _conversion, _spec in _fields(text)}


def _extracted_msgids() -> set[str | tuple[str, ...]]:
    """Extract the messages from the source as scripts/update-catalogs does (babel.cfg)."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    return {
        message
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            REPO, method_map, options_map, keywords=KEYWORDS
        )
        if message
    }


@pytest.fixture(scope="module")
def template() -> Catalog:
    return _read(TEMPLATE)


@pytest.fixture(scope="module")
def zh_catalog() -> Catalog:
    return _read(ZH_CATALOG)


@pytest.fixture(scope="module")
def translated_pairs(zh_catalog: Catalog) -> list[tuple[str, str]]:
    """(source text, translation) for every filled-in form of every zh_CN message."""
    pairs = []
    for message in _messages(zh_catalog):
        sources = _forms(message.id)
        for index, translation in enumerate(_forms(message.string)):
            if translation:
                pairs.append((sources[min(index, len(sources) - 1)], translation))
    return pairs


def test_template_extraction_finds_messages() -> None:
    extracted = _extracted_msgids()
    assert len(extracted) > 100
    assert "venue renovation" in extracted  # marked with N_() in cocon/labels.py
    assert "{org} {year} allocation {code}" in extracted  # marked with _()


def test_template_has_every_source_message(template: Catalog) -> None:
    missing = _extracted_msgids() - {message.id for message in _messages(template)}
    assert not missing, (
        f"{len(missing)} translatable strings are not in cocon/locale/messages.pot "
        f"({UPDATE_HINT}): " + "; ".join(sorted(repr(m) for m in missing))
    )


def test_template_has_no_stale_messages(template: Catalog) -> None:
    stale = {message.id for message in _messages(template)} - _extracted_msgids()
    assert not stale, (
        f"{len(stale)} strings in cocon/locale/messages.pot are no longer in the source "
        f"({UPDATE_HINT}): " + "; ".join(sorted(repr(m) for m in stale))
    )


def test_zh_catalog_translates_every_template_message(
    template: Catalog, zh_catalog: Catalog
) -> None:
    problems = []
    for message in _messages(template):
        entry = zh_catalog.get(message.id, message.context)
        if entry is None:
            problems.append(f"{_singular(message.id)!r}: not in the zh_CN catalog ({UPDATE_HINT})")
        elif entry.fuzzy:
            problems.append(f"{_singular(message.id)!r}: marked fuzzy")
        elif not _forms(entry.string) or not all(form.strip() for form in _forms(entry.string)):
            problems.append(f"{_singular(message.id)!r}: no translation")
    assert not problems, f"{len(problems)} zh_CN messages need work:\n" + "\n".join(problems)


def test_zh_catalog_plural_forms_is_one_form(zh_catalog: Catalog) -> None:
    assert zh_catalog.num_plurals == 1
    assert zh_catalog.plural_expr == "0"


def test_zh_translations_keep_placeholder_names(translated_pairs: list[tuple[str, str]]) -> None:
    problems = []
    for source, translation in translated_pairs:
        try:
            expected, found = _placeholder_names(source), _placeholder_names(translation)
        except ValueError as error:
            problems.append(f"{source!r} → {translation!r}: braces do not parse ({error})")
            continue
        if expected != found:
            problems.append(
                f"{source!r} → {translation!r}: "
                f"lost {sorted(expected - found)}, added {sorted(found - expected)}"
            )
    assert not problems, "\n".join(problems)


def test_zh_translations_keep_format_specs(translated_pairs: list[tuple[str, str]]) -> None:
    problems = [
        f"{source!r} → {translation!r}"
        for source, translation in translated_pairs
        if _fields(source) != _fields(translation)
    ]
    assert not problems, "placeholders must keep their conversions and format specs " + (
        "such as {households:,}:\n" + "\n".join(problems)
    )


def test_zh_translations_keep_placeholder_names_detects_a_renamed_field() -> None:
    assert _placeholder_names("{project} draws {amount} from {allocation}") != (
        _placeholder_names("{project}从{allocation}安排资金{money}")
    )
    assert _fields("{households:,} households") != _fields("{households}户")
