"""Broken inputs: one case per diagnostic code, asserting (path, line, column, code)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ankigen.build import load
from ankigen.diagnostics import CODES, Severity

from .conftest import CASES, expected_locations

INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.is_dir())
HOSTILE = sorted(
    p
    for p in (CASES / "hostile").iterdir()
    if p.is_dir() and (p / "expected.txt").read_text(encoding="utf-8").strip() != "inert"
)


def _relative(path: str, root: Path) -> str:
    return Path(path).resolve().relative_to(root.resolve()).as_posix() or "."


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(case: Path) -> None:
    corpus = load(case)
    got = sorted(
        (_relative(d.location.path, case), d.location.line, d.location.column, d.code)
        for d in corpus.diagnostics
    )
    assert got == expected_locations(case)
    assert not corpus.ok
    assert all(d.severity is Severity.ERROR for d in corpus.diagnostics)


def test_every_code_has_a_case() -> None:
    """Each code is expected by a broken-input case, or asserted by name in another test
    (those needing a real filesystem, a large input or a lock to compare against)."""
    covered = {row[3] for case in INVALID + HOSTILE for row in expected_locations(case)}
    tests = Path(__file__).parent
    for module in tests.glob("test_*.py"):
        if module.name != Path(__file__).name:
            text = module.read_text(encoding="utf-8")
            covered |= {code for code in CODES if f'"{code}"' in text}
    source = (
        Path(__file__).read_text(encoding="utf-8").rsplit("def test_missing_source_folder", 1)[1]
    )
    covered |= {code for code in CODES if f'"{code}"' in source}
    assert sorted(set(CODES) - covered) == []


def test_missing_source_folder(tmp_path: Path) -> None:
    corpus = load(tmp_path / "absent")
    assert [d.code for d in corpus.diagnostics] == ["missing-source"]


def test_unreadable_file_is_located(tmp_path: Path) -> None:
    (tmp_path / "locked.md").write_text("## qa/x\n")
    (tmp_path / "locked.md").chmod(0)
    (tmp_path / "fifo.md").unlink(missing_ok=True)
    os.mkfifo(tmp_path / "fifo.md")
    corpus = load(tmp_path)
    found = [(Path(d.location.path).name, d.code) for d in corpus.diagnostics]
    assert ("fifo.md", "unreadable-file") in found
    if os.geteuid() != 0:  # root reads files whatever their mode
        assert ("locked.md", "unreadable-file") in found


def test_empty_folder(tmp_path: Path) -> None:
    corpus = load(tmp_path)
    assert [(d.location.line, d.code) for d in corpus.diagnostics] == [(1, "empty-corpus")]


def test_symlinked_folder_loop_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    corpus = load(tmp_path)
    assert [d.code for d in corpus.diagnostics] == ["symlink"]


def test_all_problems_reported_in_one_run(tmp_path: Path) -> None:
    for case in INVALID:
        for source in case.glob("*.md"):
            target = tmp_path / case.name / source.name
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(source.read_bytes())
    corpus = load(tmp_path)
    found = {d.code for d in corpus.diagnostics}
    assert found == {row[3] for case in INVALID for row in expected_locations(case)}
    assert list(corpus.diagnostics) == sorted(
        corpus.diagnostics, key=lambda d: (d.location, d.code, d.message)
    )


def test_diagnostic_format() -> None:
    corpus = load(CASES / "invalid" / "unknown-kind")
    (line,) = [d.format() for d in corpus.diagnostics]
    path = os.path.relpath(CASES / "invalid" / "unknown-kind" / "notes.md")
    assert line.startswith(f"{Path(path).as_posix()}:5:4: error: unknown kind 'metrik'")
    assert line.endswith("[unknown-kind]")
    assert "did you mean 'metric'?" in line
