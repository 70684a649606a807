"""The page's words: every language's catalogue is complete, current and compiled."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from service.domain.surveys import LANGUAGES
from service.web.i18n import LOCALE_DIR, SOURCE_LANGUAGE

ROOT = Path(__file__).parents[2]
TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]
_PLACEHOLDER = re.compile(r"%\(\w+\)s")


@pytest.fixture(scope="module")
def source_messages(tmp_path_factory) -> set[str]:
    """The messages the templates use, extracted as the documented pybabel command does."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"),
                                "-o", str(pot), str(ROOT)])
    with open(pot, "rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def catalogue(language: str):
    with open(LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=language)


def test_the_templates_have_messages_to_translate(source_messages):
    assert {"Send", "There is a problem", "Page not found"} <= source_messages


def test_the_account_pages_messages_are_extracted_too(source_messages):
    assert {"Sign in", "Campaigns", "API keys", "Comments", "NPS per week",
            "fewer than %(n)s answers: mostly noise"} <= source_messages


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_language_translates_every_message_and_nothing_stale(language, source_messages):
    entries = {message.id: message for message in catalogue(language) if message.id}
    assert set(entries) == source_messages
    for message in entries.values():
        assert message.string.strip(), f"{language}: '{message.id}' is not translated"
        assert not message.fuzzy, f"{language}: '{message.id}' is fuzzy"
        assert sorted(_PLACEHOLDER.findall(message.string)) == \
            sorted(_PLACEHOLDER.findall(message.id)), f"{language}: '{message.id}'"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_says_what_the_source_says(language):
    with open(LOCALE_DIR / language / "LC_MESSAGES" / "messages.mo", "rb") as handle:
        compiled = {message.id: message.string for message in read_mo(handle) if message.id}
    source = {message.id: message.string for message in catalogue(language) if message.id}
    assert compiled == source
