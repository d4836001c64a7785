"""The command line, in-process through click's CliRunner and once as a real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ankigen.build import deck_path
from ankigen.cli import main

from .conftest import CASES


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _build(src: Path, out: Path) -> tuple[int, str, str]:
    return _run("build", "--src", str(src), "--out", str(out))


def test_build_writes_the_deck(valid_sources: Path, tmp_path: Path) -> None:
    code, out, err = _build(valid_sources, tmp_path / "build")
    assert code == 0, err
    assert deck_path(tmp_path / "build").is_file()
    assert "8 notes, 23 cards" in out


def test_copied_file_is_refused_and_previous_deck_kept(valid_sources: Path, tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    assert _build(valid_sources, build_dir)[0] == 0
    deck = deck_path(build_dir)
    before = deck.read_bytes()
    shutil.copy(valid_sources / "metrics.md", valid_sources / "metrics-copy.md")

    code, _, err = _build(valid_sources, build_dir)

    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "[duplicate-key]" in line]
    assert len(lines) == 2  # both notes of the copied file
    for line in lines:
        assert "metrics-copy.md" in line and "metrics.md:" in line
    assert err.rstrip().endswith("no deck written")
    assert deck.read_bytes() == before
    # Nothing but the deck; no temporary file left behind.
    assert sorted(p.name for p in build_dir.iterdir()) == [deck.name]


def test_not_utf8_is_a_located_error(valid_sources: Path, tmp_path: Path) -> None:
    (valid_sources / "latin1.md").write_bytes("## concept/caf\xe9\n".encode("latin-1"))
    code, _, err = _build(valid_sources, tmp_path / "build")
    assert code == 1
    assert "latin1.md:1:15: error: file is not valid UTF-8" in err
    assert "[not-utf8]" in err and "Traceback" not in err


def test_check_writes_nothing_and_reports_json(tmp_path: Path) -> None:
    case = CASES / "invalid" / "duplicate-key"
    code, out, _ = _run("check", "--src", str(case), "--format", "json")
    assert code == 1
    (item,) = json.loads(out)["diagnostics"]
    assert (Path(item["path"]).name, item["line"], item["column"], item["code"]) == (
        "b.md",
        5,
        4,
        "duplicate-key",
    )


def test_check_ok(valid_sources: Path) -> None:
    code, out, err = _run("check", "--src", str(valid_sources))
    assert (code, err) == (0, "")
    assert out.startswith("ok: 8 notes, 23 cards in 3 files")


def test_summary_line_counts_errors(tmp_path: Path) -> None:
    code, _, err = _run("check", "--src", str(CASES / "invalid" / "raw-html"))
    assert code == 1
    assert err.splitlines()[-1] == "2 errors in 1 file"


@pytest.mark.parametrize(
    "args", [["build", "--exam", "XYZ-C01"], ["frobnicate"], ["check", "--format", "xml"]]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert _run(*args)[0] == 2


def test_exam_deck_file(valid_sources: Path, tmp_path: Path) -> None:
    code, out, _ = _run(
        "build", "--src", str(valid_sources), "--out", str(tmp_path), "--exam", "AIF-C01"
    )
    assert code == 0
    assert deck_path(tmp_path, "AIF-C01").is_file()
    assert "1 note, 2 cards" in out  # only metric/recall carries an AIF-C01 tag


def test_python_dash_m(valid_sources: Path, tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "ankigen", "check", "--src", str(valid_sources)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith("ok: 8 notes")


def test_no_progress_bar_in_diagnostics(tmp_path: Path) -> None:
    code, _, err = _run("check", "--src", str(CASES / "invalid" / "unknown-kind"))
    assert code == 1
    assert "\r" not in err and "####" not in err
