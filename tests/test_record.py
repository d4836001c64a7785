"""The change record in a real git repository: pull requests that merge without conflicts,
times derived from history, and a record that is recovered, never guessed, when lost."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ankigen.build import BuildOptions, build, check, deck_path, record
from ankigen.config import RETIRED_TAG
from ankigen.lock import parse_record
from ankigen.package import guid_for_key

from .conftest import VALID, note_rows

START = 1_750_000_000  # the first commit; each later commit is an hour later
OVERFITTING = "- **Term:** Overfitting\n"
RETIRED = "**Retired:** merged into the bias-variance notes\n"


class Repo:
    """A git repository with a copy of the fixture deck, committing at fixed times."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.src = root / "cards_src"
        self.clock = START

    def git(self, *args: str) -> str:
        self.clock += 3600
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_AUTHOR_DATE": f"{self.clock} +0000", "GIT_COMMITTER_DATE": f"{self.clock} +0000",
        }  # fmt: skip
        done = subprocess.run(
            ["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def commit(self, message: str) -> int:
        """Commit everything; return the commit's time."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return int(self.git("log", "-1", "--format=%ct"))

    def record(self) -> None:
        """What CI does on main after a merge."""
        done = record(BuildOptions(source_dir=self.src, build_dir=self.root / "build"))
        assert done.result.ok, [d.format() for d in done.result.diagnostics]

    def times(self) -> dict[str, int]:
        text = (self.src / "ankigen.lock").read_text(encoding="utf-8")
        parsed, problems = parse_record(text, "lock")
        assert not problems
        return {key: note.changed for key, note in parsed.notes.items()}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo")
    shutil.copytree(VALID, repo.src)
    repo.git("init", "-q", "-b", "main")
    repo.commit("The deck")
    repo.record()
    repo.commit("Update the change record")
    (repo.root / ".gitignore").write_text("/build/\n")
    repo.commit("Ignore build output")
    return repo


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _new_note(n: int) -> str:
    return (
        "---\ntags: [exam::MLA-C01::D3-Deployment-and-Orchestration::3.1]\n---\n\n"
        f"## qa/new-{n}\n\n- **Question:** Which endpoint option fits case {n}?\n"
        f"- **Answer:** Option {n}, because it scales to zero.\n"
    )


def _contribute(repo: Repo, branch: str, change: object) -> None:
    """CONTRIBUTING.md, followed literally: edit, check, build, commit the notes."""
    repo.git("checkout", "-q", "-b", branch, "main")
    assert callable(change)
    change()
    assert check(BuildOptions(source_dir=repo.src)).ok
    assert build(BuildOptions(source_dir=repo.src, build_dir=repo.root / "build")).ok
    assert repo.git("status", "--porcelain", "--", "cards_src/ankigen.lock") == ""
    repo.commit(f"Contribution {branch}")


def test_seven_pull_requests_merge_without_conflicts_and_keep_untouched_times(
    repo: Repo,
) -> None:
    before = repo.times()
    metrics = repo.src / "metrics.md"
    other = repo.src / "topic" / "other.md"
    changes = {
        **{
            f"new-{n}": (lambda n=n: (repo.src / f"new-{n}.md").write_text(_new_note(n)))
            for n in range(1, 5)
        },
        "edit-f1": lambda: _edit(metrics, "The harmonic mean", "The harmonic (or F) mean"),
        "edit-recall": lambda: _edit(metrics, "The share of actual positives found.", "Found."),
        "retire": lambda: _edit(other, "- **Term:** Overfitting\n", f"{OVERFITTING}- {RETIRED}"),
    }  # fmt: skip
    for branch, change in changes.items():
        _contribute(repo, branch, change)
    repo.git("checkout", "-q", "main")
    merged_at = {}
    for branch in changes:
        out = repo.git("merge", "--no-ff", "-q", "-m", f"Merge {branch}", branch)
        assert "CONFLICT" not in out
        merged_at[branch] = int(repo.git("log", "-1", "--format=%ct"))

    # Main checks and builds before CI has written the record, and after.
    assert check(BuildOptions(source_dir=repo.src)).ok
    repo.record()
    repo.commit("Update the change record [skip ci]")
    after = repo.times()
    touched = {"metric/f1-score", "metric/recall", "concept/overfitting"}
    for key, when in before.items():
        if key not in touched:
            assert after[key] == when, key  # untouched: same time
    assert after["metric/f1-score"] == merged_at["edit-f1"]  # when it landed on main
    assert after["metric/recall"] == merged_at["edit-recall"]
    assert after["concept/overfitting"] == merged_at["retire"]
    assert {after[f"qa/new-{n}"] for n in range(1, 5)} == {
        merged_at[f"new-{n}"] for n in range(1, 5)
    }

    # The merged deck ships every change.
    out = repo.root / "build"
    result = build(BuildOptions(source_dir=repo.src, build_dir=out))
    assert result.ok
    rows = note_rows(deck_path(out))
    assert "(or F) mean" in str(rows[guid_for_key("metric/f1-score")][4])
    assert RETIRED_TAG in str(rows[guid_for_key("concept/overfitting")][3])
    assert all(guid_for_key(f"qa/new-{n}") in rows for n in range(1, 5))
    shipped = {key: rows[guid_for_key(key)][2] for key in after}
    assert shipped == after

    # Losing the record changes nothing a learner would see: it is recovered from git.
    (repo.src / "ankigen.lock").unlink()
    lost = build(BuildOptions(source_dir=repo.src, build_dir=repo.root / "again"))
    assert lost.ok
    assert [d.code for d in lost.diagnostics] == ["recovered-lock"]
    assert note_rows(deck_path(repo.root / "again")) == rows
    # ... even when the deletion was committed.
    repo.commit("Lose the record")
    gone = build(BuildOptions(source_dir=repo.src, build_dir=repo.root / "third"))
    assert gone.ok and note_rows(deck_path(repo.root / "third")) == rows


def test_without_any_record_times_come_from_the_commits_that_made_each_note(
    tmp_path: Path,
) -> None:
    repo = Repo(tmp_path / "fresh")
    shutil.copytree(VALID, repo.src)
    (repo.src / "ankigen.lock").unlink()
    repo.git("init", "-q", "-b", "main")
    created = repo.commit("The deck, never recorded")
    _edit(repo.src / "metrics.md", "The harmonic mean", "The harmonic (not arithmetic) mean")
    edited = repo.commit("Edit F1")
    result = check(BuildOptions(source_dir=repo.src))
    assert result.ok and result.settlement is not None
    assert [d.code for d in result.diagnostics] == ["recovered-lock"]
    times = {n.key: result.settlement.changed(n.key) for n in result.corpus.notes}
    assert times.pop("metric/f1-score") == edited
    assert set(times.values()) == {created}


def test_a_note_edited_but_not_committed_is_new_now(repo: Repo) -> None:
    _edit(repo.src / "metrics.md", "The harmonic mean", "The harmonic (not arithmetic) mean")
    result = check(BuildOptions(source_dir=repo.src, now=1_900_000_000))
    assert result.ok and result.settlement is not None
    assert result.settlement.derived == ("metric/f1-score",)
    assert result.settlement.changed("metric/f1-score") == 1_900_000_000
    assert result.diagnostics == ()  # in git: no assumption to report


def test_outside_git_the_assumption_is_said(valid_sources: Path) -> None:
    (valid_sources / "new.md").write_text(_new_note(9))
    result = check(BuildOptions(source_dir=valid_sources, now=1_900_000_000))
    assert result.ok
    assert [d.code for d in result.diagnostics] == ["assumed-time"]
    assert "SOURCE_DATE_EPOCH" in result.diagnostics[0].message
