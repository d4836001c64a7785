"""The real deck: clean under every check, and reported by ``ankigen stats``.

Content policy (which tags a note needs, what a card may look like) lives in ``check``,
not in counts here: no test pins how many notes the deck has.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ankigen.build import BuildOptions, check, load
from ankigen.cards import Algorithm
from ankigen.cli import main
from ankigen.diagnostics import Severity
from ankigen.stats import MIN_NOTES_PER_TASK, compute

from .conftest import REAL_SOURCES


def test_real_sources_check_without_errors() -> None:
    # Read-only: check never writes, so this runs against the committed files and record.
    result = check(BuildOptions(source_dir=REAL_SOURCES))
    assert [d.format() for d in result.diagnostics if d.severity is Severity.ERROR] == []
    assert result.corpus.notes


def test_every_algorithm_note_has_formats_and_instances() -> None:
    notes = load(REAL_SOURCES).notes
    algorithms = [n for n in notes if isinstance(n.card, Algorithm)]
    assert algorithms
    for note in algorithms:
        card = note.card
        assert isinstance(card, Algorithm)
        for value in (
            card.training_input,
            card.inference,
            card.training_instances,
            card.inference_instances,
        ):
            assert value is not None and value.text.strip(), note.key


def test_stats_counts_kinds_domains_and_tasks(valid_sources: Path) -> None:
    stats = compute(load(valid_sources).notes)
    kinds = {row.kind: (row.notes, row.cards) for row in stats.kinds}
    assert kinds["metric"] == (2, 6)
    assert kinds["algorithm"] == (1, 7)
    assert kinds["total"] == (8, 23)
    mls = next(e for e in stats.exams if e.code == "MLS-C01")
    rows = {d.slug: d for d in mls.domains}
    assert (rows["D3-Modeling"].notes, rows["D3-Modeling"].weight) == (4, 36)
    assert rows["D1-Data-Engineering"].notes == 0
    tasks = {t.number: t.notes for t in rows["D3-Modeling"].tasks}
    assert tasks["3.5"] == 2 and tasks["3.1"] == 0
    assert all(t.thin for t in rows["D3-Modeling"].tasks)  # under MIN_NOTES_PER_TASK each
    assert MIN_NOTES_PER_TASK == 8
    mla_c02 = next(e for e in stats.exams if e.code == "MLA-C02")
    assert sum(d.notes for d in mla_c02.domains) > 0  # MLA-C01 tasks carry over to MLA-C02


def test_stats_command_prints_weights_tasks_and_flags(valid_sources: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--src", str(valid_sources)])
    assert result.exit_code == 0
    assert (
        "MLS-C01: AWS Certified Machine Learning - Specialty (retired 2026-03-31)" in result.stdout
    )
    assert "D3-Modeling" in result.stdout and "36%" in result.stdout
    assert "3.5 Evaluate ML models" in result.stdout
    assert "<- thin (under 8)" in result.stdout and "<- off weight" in result.stdout
