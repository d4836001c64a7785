"""Parsing shared with forked helpers gives exactly the results of parsing here, in order."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import ankigen.incremental as incremental
from ankigen.build import display_path

from .conftest import CASES, REAL_SOURCES


def _corpus(tmp_path: Path) -> tuple[list[tuple[Path, str]], Path]:
    """The real deck plus every broken case, so that diagnostics travel too."""
    root = tmp_path / "src"
    shutil.copytree(REAL_SOURCES, root)
    for case in sorted((CASES / "invalid").iterdir()):
        for path in case.rglob("*.md"):
            shutil.copy(path, root / f"invalid-{case.name}-{path.name}")
    paths = sorted(root.rglob("*.md"))
    return [(p, display_path(p)) for p in paths if p.name != "README.md"], root


def _results(paths: list[tuple[Path, str]], root: Path) -> list[incremental.FileResult]:
    return incremental.process_all(paths, root, None, write=False)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Share the work however little there is (as with a large corpus)."""
    monkeypatch.setattr(incremental, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(incremental, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("ankigen.incremental.os.cpu_count", lambda: 3)  # two helpers
    return monkeypatch


def test_shared_parse_equals_parse_here(tmp_path: Path, shared: pytest.MonkeyPatch) -> None:
    paths, root = _corpus(tmp_path)
    from_helpers: list[int] = []
    real = incremental._HelperOutput.poll

    def counting(self: incremental._HelperOutput) -> None:
        real(self)
        from_helpers.append(len(self.chunks))

    shared.setattr(incremental._HelperOutput, "poll", counting)
    parallel = _results(paths, root)
    assert max(from_helpers) > 0  # the helpers did part of it
    with shared.context() as here:
        here.setattr(incremental, "PARALLEL_MIN_FILES", 10**9)
        serial = _results(paths, root)
    assert parallel == serial
    assert any(r.diagnostics for r in serial) and any(r.checked for r in serial)


def test_failing_helper_costs_only_time(tmp_path: Path, shared: pytest.MonkeyPatch) -> None:
    paths, root = _corpus(tmp_path)
    serial = [incremental.process_file(p, d, root) for p, d in paths]

    def crash(jobs: list[incremental._Job]) -> list[bytes]:
        raise MemoryError("a helper died")

    works: list[incremental._SharedWork] = []
    real = incremental._SharedWork.__init__

    def keeping(self: incremental._SharedWork, *args: Any) -> None:
        real(self, *args)
        works.append(self)

    shared.setattr(incremental, "_process_jobs", crash)  # only helpers call it
    shared.setattr(incremental._SharedWork, "__init__", keeping)
    assert _results(paths, root) == serial
    # Chunks above the high end were claimed by helpers, which crashed: that work was lost.
    claimed_by_helpers = [len(w._chunks) - int(w._ends[1]) for w in works]
    assert claimed_by_helpers and claimed_by_helpers[0] > 0  # so the crash did lose work
