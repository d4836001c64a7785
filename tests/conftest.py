"""Shared fixtures: the real Anki collection, the test corpora, and building decks."""

from __future__ import annotations

import re
import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from hypothesis import settings

from ankigen.build import BuildOptions, FileResult, process_file, record
from ankigen.discover import MediaFile, NoteFile
from ankigen.media import MediaLibrary

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


#: The time the fixture's change record is brought up to date at.
V0 = 1_700_000_000


@pytest.fixture
def valid_sources(tmp_path: Path) -> Path:
    """A writable copy of the small valid corpus, its change record up to date (as CI keeps
    main's), whatever the templates say today."""
    target = tmp_path / "cards_src"
    shutil.copytree(VALID, target)
    done = record(BuildOptions(source_dir=target, build_dir=tmp_path / "record-build", now=V0))
    assert done.result.ok, [d.format() for d in done.result.diagnostics]
    return target


FRONT = "---\ntags: [exam::MLA-C01::D2-Model-Development::2.1]\n---\n\n"


def run_text(
    text: str, media: dict[str, bytes] | None = None, folder: Path | None = None
) -> FileResult:
    """One note file's text through the real per-file pipeline (parse, validate, render),
    as ``topic.md`` in a source folder whose media folder holds ``media`` (written to
    ``folder``, a temporary folder of the caller's)."""
    files = {}
    for name, data in (media or {}).items():
        assert folder is not None, "media files need a folder to live in"
        (folder / name).write_bytes(data)
        files[name] = MediaFile(name, f"cards_src/media/{name}", folder / name)
    note_file = NoteFile("cards_src/topic.md", "topic.md", text)
    return process_file(note_file, MediaLibrary(files))


def field(markdown: str, label: str = "Explanation") -> tuple[str, list[str]]:
    """The card HTML of one concept field written as ``markdown``, and the codes reported."""
    text = FRONT + f"## concept/x\n\n- **Term:** X\n- **{label}:** {markdown}\n"
    result = run_text(text)
    codes = [d.code for d in result.diagnostics]
    if not result.notes:
        return "", codes
    values = {spec.label: value for spec, value in zip(
        result.notes[0].kind.fields, result.notes[0].values(), strict=True
    )}  # fmt: skip
    value = values[label]
    return ("" if value is None else value.html), codes


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/cases/render/*/expected.html from the current output",
    )


def expected_locations(case: Path) -> list[tuple[str, int, int, str]]:
    """A case's ``expected.txt``: ``path:line:column code`` lines, sorted."""
    rows = []
    for line in (case / "expected.txt").read_text(encoding="utf-8").splitlines():
        where, code = line.split()
        path, row, column = where.rsplit(":", 2)
        rows.append((path, int(row), int(column), code))
    return sorted(rows)


def note_rows(package: Path) -> dict[str, tuple[object, ...]]:
    """A package's note rows by GUID, read straight from its SQLite database: (id, model id,
    change time, tags, fields)."""
    with zipfile.ZipFile(package) as archive:
        data = archive.read("collection.anki2")
    database = package.with_suffix(".sqlite")
    database.write_bytes(data)
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("select guid, id, mid, mod, tags, flds from notes").fetchall()
    finally:
        connection.close()
    return {row[0]: tuple(row[1:]) for row in rows}
