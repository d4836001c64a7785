"""``ankigen diff``: between two packages, and between two git revisions of the sources."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ankigen.build import BuildOptions, build, deck_path
from ankigen.cli import main
from ankigen.diff import Side, compare, read_package

from .conftest import VALID

V1, V2 = 1_700_000_000, 1_700_000_500


def _change_sources(src: Path) -> None:
    """Edit one note, remove one, rename one, add one."""
    other = src / "topic" / "other.md"
    text = other.read_text(encoding="utf-8")
    text = text.replace("Turns text into speech.", "Speaks text aloud.")
    start, end = text.index("## concept/overfitting"), text.index("## qa/retired-exam")
    text = text[:start] + text[end:]
    text = text.replace(
        "## instance/p3\n", "## instance/p3-family\n\n- **Renamed from:** instance/p3"
    )
    text += "\n## qa/new-fact\n\n- **Question:** A new question?\n- **Answer:** A new answer.\n"
    other.write_text(text, encoding="utf-8")


def test_compare_packages(valid_sources: Path, tmp_path: Path) -> None:
    assert build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "a", now=V1)).ok
    _change_sources(valid_sources)
    assert build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "b", now=V2)).ok
    old = Side("a", read_package(deck_path(tmp_path / "a")), {})
    new = Side("b", read_package(deck_path(tmp_path / "b")), {})
    report = compare(old, new)
    assert [n.subject for n in report.added] == ["A new question?"]
    assert [after.subject for _, after in report.changed] == ["Amazon Polly"]
    assert [n.subject for n in report.retired] == ["Overfitting"]
    assert report.removed == ()
    assert report.renamed == ()  # bare packages carry no keys


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_between_git_revisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(VALID, repo / "cards_src")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "v1")
    _change_sources(repo / "cards_src")
    assert build(BuildOptions(source_dir=repo / "cards_src", build_dir=tmp_path / "b", now=V2)).ok
    _git(repo, "commit", "-qam", "v2")

    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["diff", "HEAD~1", "HEAD"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1 added, 1 changed, 1 retired, 1 renamed, 0 removed" in out
    assert "- before: Turns text into speech." in out and "- after: Speaks text aloud." in out
    assert "`instance/p3` → `instance/p3-family`" in out
    assert "**Overfitting**" in out.split("### Retired")[1]


def test_diff_reports_an_unknown_side(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["diff", str(tmp_path / "nope.apkg"), "also-nope"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output
