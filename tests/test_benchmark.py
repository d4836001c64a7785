"""The benchmark script runs and prints its summary line (no timing is asserted)."""

from __future__ import annotations

import re
import sys

import pytest

from .conftest import REPO


def test_benchmark_prints_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import run  # type: ignore[import-not-found]

        assert run.main(["--notes", "30", "60", "--repeat", "2"]) == 0
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    out = capsys.readouterr().out
    pattern = (
        r"^N=60 cold=[\d.]+ warm=[\d.]+ check=[\d.]+ genanki=[\d.]+ "
        r"ratio_cold=[\d.]+ ratio_warm=[\d.]+ peak_rss=\d+ peak_rss_genanki=\d+$"
    )
    assert re.search(pattern, out, re.MULTILINE), out
    floor = r"^parser floor N=60: markdown-it-py alone [\d.]+ s = [\d.]+x genanki$"
    assert re.search(floor, out, re.MULTILINE), out
    growth = r"^growth 30->60 \(2x the notes\): cold build [\d.]+x, genanki [\d.]+x"
    assert re.search(growth, out, re.MULTILINE), out
    for stage in ("load", "check", "build"):
        assert re.search(rf"^{stage}\s+[\d.]+\s+[\d.]+$", out, re.MULTILINE)


def test_limits_script_checks_every_shape(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import limits  # type: ignore[import-not-found]

        assert limits.main(["--bytes", "6000"]) == 0
        shapes = limits.inputs(6000)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    out = capsys.readouterr().out
    assert len(shapes) >= 12
    for name in shapes:
        assert re.search(rf"^{re.escape(name)}\s+[\d.]+ s  peak\s+\d+ MiB", out, re.MULTILINE)
