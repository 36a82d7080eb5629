"""Translate user-facing text with Babel catalogs; zh_CN is the default language."""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib import resources
from io import BytesIO

from cocon.settings import LANGUAGES

DEFAULT_LANGUAGE = "zh_CN"
_language: ContextVar[str] = ContextVar("cocon_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """Load the catalog of one language straight from its .po file."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = resources.files("cocon").joinpath("locale", language, "LC_MESSAGES", "messages.po")
    if not po.is_file():
        return _gettext.NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def N_(message: str) -> str:
    """Mark message for translation without translating it now."""
    return message


def current_language() -> str:
    """Return the language of the current request or command."""
    return _language.get()


def set_language(language: str) -> None:
    """Make language the current one for this context."""
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


@contextmanager
def use_language(language: str) -> Iterator[None]:
    """Translate into language inside the block."""
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str) -> str:
    """Translate message into the current language."""
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message whose form depends on the count n."""
    return translations(_language.get()).ngettext(singular, plural, n)


_ = gettext
