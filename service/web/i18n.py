"""The page's own words in the respondent's language, from gettext catalogues.

Catalogues live in ``locale/<lang>/LC_MESSAGES/messages.po`` and are compiled to
``.mo`` files committed beside them (tests/web/test_catalogues.py proves both agree
and are complete). English is the source language and needs no catalogue.
After changing a wording in a template (the flags keep the catalogues' diffs small):

    pybabel extract --no-location --no-wrap -F babel.cfg -o /tmp/messages.pot .
    pybabel update --no-wrap --no-fuzzy-matching -i /tmp/messages.pot -d service/web/locale
    (translate the new entries, then)
    pybabel compile -d service/web/locale
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.domain.surveys import LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
TEMPLATE_DIR = Path(__file__).parent / "templates"
SOURCE_LANGUAGE = "en"


def choose_language(survey_language: str | None, allow_override: bool,
                    accepted: Sequence[str]) -> str:
    """The survey's language, or the browser's first supported one when the survey allows it.

    ``accepted`` lists the browser's language tags, preferred first (Accept-Language).
    """
    if survey_language and not allow_override:
        return survey_language
    for tag in accepted:
        primary = tag.split("-")[0].split("_")[0].lower()
        if primary in LANGUAGES:
            return primary
    return survey_language or SOURCE_LANGUAGE


@lru_cache(maxsize=None)
def templates(language: str) -> Environment:
    """The Jinja environment of one language (one per language: translations stay per request)."""
    # auto_reload off: the templates ship with the package, so checking each one's
    # modification time on every render (Jinja's default) would only cost a stat() call.
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR),
                      autoescape=select_autoescape(default=True), auto_reload=False,
                      extensions=["jinja2.ext.i18n", "jinja2.ext.do"], trim_blocks=True,
                      lstrip_blocks=True)
    env.install_gettext_translations(  # type: ignore[attr-defined]  (added by the extension)
        Translations.load(str(LOCALE_DIR), [language], domain="messages"), newstyle=True)
    return env
