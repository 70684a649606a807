"""A program the selected tests need fails the run when missing, unless the developer opts out."""
from __future__ import annotations

import pytest

from tests import conftest


class Item:
    """The little of a collected test item the requirement check reads and writes."""

    def __init__(self, markers=(), fixtures=()) -> None:
        self.markers = set(markers)
        self.fixturenames = list(fixtures)
        self.added: list = []

    def get_closest_marker(self, name: str):
        return name if name in self.markers else None

    def add_marker(self, mark) -> None:
        self.added.append(mark)


@pytest.fixture
def chromium_missing(monkeypatch):
    monkeypatch.setattr(conftest, "REQUIREMENTS", {
        "chromium": ("browser", "chromium", lambda: False, "Debian's chromium")})
    monkeypatch.delenv(conftest.ALLOW_SKIP, raising=False)
    return monkeypatch


def test_a_missing_program_fails_the_run_saying_what_to_install_and_how_to_skip(
        chromium_missing):
    with pytest.raises(pytest.UsageError) as caught:
        conftest.pytest_collection_modifyitems(None, [Item(markers=["browser"]), Item()])
    assert "1 selected test(s) need Debian's chromium, which is missing" in str(caught.value)
    assert "FEEDLOOP_TEST_ALLOW_SKIP=chromium" in str(caught.value)


def test_a_test_using_the_fixture_needs_the_program_even_without_the_marker(chromium_missing):
    with pytest.raises(pytest.UsageError):
        conftest.pytest_collection_modifyitems(None, [Item(fixtures=["chromium"])])


def test_the_opt_out_skips_only_the_tests_that_need_the_program(chromium_missing):
    chromium_missing.setenv(conftest.ALLOW_SKIP, "postgres, chromium")
    needing, other = Item(markers=["browser"]), Item(fixtures=["app"])
    conftest.pytest_collection_modifyitems(None, [needing, other])
    [skip] = needing.added
    assert skip.name == "skip" and "FEEDLOOP_TEST_ALLOW_SKIP names chromium" in \
        skip.kwargs["reason"]
    assert other.added == []


def test_nothing_happens_when_no_selected_test_needs_the_missing_program(chromium_missing):
    items = [Item(markers=["postgres"]), Item(fixtures=["web"])]
    conftest.pytest_collection_modifyitems(None, items)
    assert all(item.added == [] for item in items)
