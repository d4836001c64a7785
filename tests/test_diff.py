"""``ankigen diff``: between two packages, and between two git revisions of the sources."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ankigen.build import BuildOptions, build, deck_path
from ankigen.cli import main
from ankigen.diff import COMMENT_LIMIT, Side, compare, read_package, split_report

from .conftest import VALID

V1, V2 = 1_700_000_000, 1_700_000_500


def _change_sources(src: Path) -> None:
    """Edit one note, retire one, rename one, add one (with a formula and code)."""
    other = src / "topic" / "other.md"
    text = other.read_text(encoding="utf-8")
    text = text.replace("Turns text into speech.", "Speaks text aloud, e.g. `<!-- x -->`.")
    text = text.replace(
        "- **Term:** Overfitting\n", "- **Term:** Overfitting\n- **Retired:** merged elsewhere\n"
    )
    text = text.replace(
        "## instance/p3\n", "## instance/p3-family\n\n- **Renamed from:** instance/p3"
    )
    text += (
        "\n## qa/new-fact\n\n- **Question:** What is $\\frac{a}{b}$?\n"
        "- **Answer:** A ratio; in code `a / b` and <b>never</b> HTML.\n"
    )
    other.write_text(text.replace("<b>never</b> HTML", "never HTML"), encoding="utf-8")


def test_compare_packages(valid_sources: Path, tmp_path: Path) -> None:
    assert build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "a", now=V1)).ok
    _change_sources(valid_sources)
    assert build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "b", now=V2)).ok
    old = Side("a", read_package(deck_path(tmp_path / "a")), keyed=False)
    new = Side("b", read_package(deck_path(tmp_path / "b")), keyed=False)
    report = compare(old, new)
    assert [n.key for n in report.added] == ["What is \\(\\frac{a}{b}\\)?"]
    assert [after.key for _, after in report.changed] == ["Amazon Polly"]
    assert [n.key for n in report.retired] == ["Overfitting"]
    assert report.removed == ()
    assert report.renamed == ()  # bare packages carry no keys


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def two_revisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(VALID, repo / "cards_src")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "v1")
    _change_sources(repo / "cards_src")
    _git(repo, "commit", "-qam", "v2")
    monkeypatch.chdir(repo)
    return repo


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_between_git_revisions_shows_markdown(two_revisions: Path) -> None:
    result = CliRunner().invoke(main, ["diff", "HEAD~1", "HEAD"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1 added, 1 changed, 1 retired, 1 renamed, 0 removed" in out
    added = out.split("### Added")[1].split("### Changed")[0]
    assert "#### `qa/new-fact` (qa)" in added
    assert "deck `AWS Machine Learning::Other`" in added and "`kind::qa`" in added
    assert "```text\nWhat is $\\frac{a}{b}$?\n```" in added  # the formula as written
    changed = out.split("### Changed")[1]
    assert "```text\nTurns text into speech.\n```" in changed
    assert "```text\nSpeaks text aloud, e.g. `<!-- x -->`.\n```" in changed
    assert "`instance/p3` → `instance/p3-family`" in out
    assert "`concept/overfitting`" in out.split("### Retired")[1]
    # Nothing from a note lands outside a fenced block or a code span.
    outside = [line for line in out.split("\n") if "<!--" in line and not line.startswith("Speaks")]
    assert outside == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_long_report_is_summarised_for_the_comment(two_revisions: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["diff", "HEAD~1", "HEAD", "--comment", str(tmp_path / "c.md"),
         "--full-report", str(tmp_path / "full.md")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    full = (tmp_path / "full.md").read_text(encoding="utf-8")
    assert (tmp_path / "c.md").read_text(encoding="utf-8") == full  # short: the whole report
    long = full + "".join(f"\n```text\nline {n}\n```\n" for n in range(COMMENT_LIMIT // 10))
    summary = split_report(long, tmp_path / "full.md")
    assert len(summary) < COMMENT_LIMIT
    assert "artefact `deck-diff`" in summary and "`full.md`" in summary
    assert summary.count("```") % 2 == 0  # every fenced block is closed


def test_diff_reports_an_unknown_side(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["diff", str(tmp_path / "nope.apkg"), "also-nope"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_refuses_a_revision_holding_a_symlink(two_revisions: Path) -> None:
    (two_revisions / "cards_src" / "link.md").symlink_to("/etc/passwd")
    _git(two_revisions, "add", ".")
    _git(two_revisions, "commit", "-qm", "v3")
    result = CliRunner().invoke(main, ["diff", "HEAD~1", "HEAD"])
    assert result.exit_code == 1
    assert "symbolic link" in result.stderr and "Traceback" not in result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_refuses_a_revision_where_the_sources_are_a_file(two_revisions: Path) -> None:
    shutil.rmtree(two_revisions / "cards_src")
    (two_revisions / "cards_src").write_text("hello\n")
    _git(two_revisions, "add", "-A")
    _git(two_revisions, "commit", "-qm", "v3")
    broken = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=two_revisions, capture_output=True, text=True, check=True
    ).stdout.strip()
    _git(two_revisions, "checkout", "-q", "HEAD~1")
    result = CliRunner().invoke(main, ["diff", "HEAD", broken])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not a folder of notes" in result.stderr


@pytest.mark.parametrize(
    "damage",
    ["UPDATE col SET decks = '[1,2]'", "UPDATE notes SET tags = X'4142'",
     "UPDATE col SET decks = '" + "[" * 100_000 + "'"],
    ids=["decks-a-list", "tags-a-blob", "deep-json"],
)  # fmt: skip
def test_diff_refuses_a_damaged_package(valid_sources: Path, tmp_path: Path, damage: str) -> None:
    import sqlite3
    import zipfile

    assert build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "a", now=V1)).ok
    with zipfile.ZipFile(deck_path(tmp_path / "a")) as archive:
        database = tmp_path / "c.anki2"
        database.write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(database)
    connection.execute(damage)
    connection.commit()
    connection.close()
    broken = tmp_path / "broken.apkg"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.write(database, "collection.anki2")
    result = CliRunner().invoke(main, ["diff", str(deck_path(tmp_path / "a")), str(broken)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
