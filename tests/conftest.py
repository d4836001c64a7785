"""Shared fixtures: the real Anki collection, the test corpora, and building decks."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from hypothesis import settings

# The normal suite's property tests draw the same examples on every run, so that CI's
# verdict does not depend on luck; the long runs (`pytest -m fuzz`) explore at random.
settings.register_profile("suite", derandomize=True)
settings.load_profile("suite")

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "cases"
VALID = CASES / "valid"
REAL_SOURCES = REPO / "cards_src"

_STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[Collection]:
    """A fresh, empty Anki collection, closed after the test."""
    col = Collection(str(tmp_path / "collection.anki2"))
    try:
        yield col
    finally:
        col.close()


def import_package(col: Collection, package: Path) -> object:
    """Import an .apkg with Anki's default options, as a learner would."""
    request = ImportAnkiPackageRequest(
        package_path=str(package), options=ImportAnkiPackageOptions()
    )
    return col.import_anki_package(request)


def card_body(html: str) -> str:
    """A rendered question or answer without the deck's style sheet."""
    return _STYLE.sub("", html).strip()


@pytest.fixture(scope="session")
def real_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real ``cards_src/`` (lock included), so builds never touch the repo."""
    target = tmp_path_factory.mktemp("real") / "cards_src"
    shutil.copytree(REAL_SOURCES, target)
    return target


@pytest.fixture
def valid_sources(tmp_path: Path) -> Path:
    """A writable copy of the small valid corpus."""
    target = tmp_path / "cards_src"
    shutil.copytree(VALID, target)
    return target
