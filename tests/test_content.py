"""The real deck: clean, complete where the exam needs it, and reported by ``ankigen stats``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ankigen.build import BuildOptions, check
from ankigen.cards import Algorithm
from ankigen.cli import main
from ankigen.stats import compute

from .conftest import REAL_SOURCES


def test_real_sources_check_with_zero_diagnostics() -> None:
    # Read-only: check never writes, so this runs against the committed files and lock.
    result = check(BuildOptions(source_dir=REAL_SOURCES))
    assert [d.format() for d in result.diagnostics] == []
    assert len(result.corpus.notes) >= 500


def test_every_algorithm_note_has_formats_and_instances() -> None:
    notes = check(BuildOptions(source_dir=REAL_SOURCES)).corpus.notes
    algorithms = [n for n in notes if isinstance(n.card, Algorithm)]
    assert len(algorithms) == 17  # every built-in algorithm the seeds name
    for note in algorithms:
        card = note.card
        assert isinstance(card, Algorithm)
        for value in (
            card.training_input,
            card.inference,
            card.training_instances,
            card.inference_instances,
        ):
            assert value.strip(), note.key


def test_every_topic_note_has_an_mls_c01_task_tag() -> None:
    notes = check(BuildOptions(source_dir=REAL_SOURCES)).corpus.notes
    for note in notes:
        if Path(note.location.path).parent.name == "exams":
            continue  # notes about the exams themselves belong to no task
        tasks = [t for t in note.tags if t.startswith("exam::MLS-C01::") and t.count("::") == 3]
        assert tasks, note.key


def test_stats_counts_kinds_and_domains(valid_sources: Path) -> None:
    stats = compute(check(BuildOptions(source_dir=valid_sources)).corpus.notes)
    kinds = {row.label: (row.notes, row.cards) for row in stats.kinds}
    assert kinds["metric"] == (2, 6)
    assert kinds["algorithm"] == (1, 7)
    assert kinds["total"] == (8, 23)
    mls = next(e for e in stats.exams if e.code == "MLS-C01")
    rows = {row.label: (row.notes, row.cards, row.weight) for row in mls.rows}
    assert rows["D3-Modeling"] == (4, 16, 36)
    assert rows["D4-ML-Implementation-and-Operations"] == (4, 7, 20)
    assert rows["D1-Data-Engineering"] == (0, 0, 20)


def test_stats_command_prints_weights(valid_sources: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--src", str(valid_sources)])
    assert result.exit_code == 0
    assert (
        "MLS-C01: AWS Certified Machine Learning - Specialty (retired 2026-03-31)" in result.stdout
    )
    assert "D3-Modeling" in result.stdout and "36%" in result.stdout
