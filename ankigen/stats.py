"""Deck coverage: notes and cards per kind and per exam domain, beside the domains' weights."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ankigen.cards import KINDS, Note
from ankigen.config import EXAM_TAG_PREFIX, EXAMS


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a coverage table."""

    label: str
    """Kind name or domain slug."""
    notes: int
    """Notes in this row."""
    cards: int
    """Cards those notes make."""
    weight: int | None = None
    """The domain's exam weight in percent (domains only)."""
    share: float | None = None
    """This domain's share of the exam's cards, in percent (domains only)."""


@dataclass(frozen=True, slots=True)
class ExamCoverage:
    """Coverage of one exam's domains."""

    code: str
    """Exam code."""
    title: str
    """Exam name, with its retirement date if retired."""
    rows: tuple[Row, ...]
    """One row per domain, in guide order."""


@dataclass(frozen=True, slots=True)
class Stats:
    """The whole report."""

    kinds: tuple[Row, ...]
    """One row per kind, plus a total."""
    exams: tuple[ExamCoverage, ...]
    """One table per exam."""


def compute(notes: Sequence[Note]) -> Stats:
    """Count notes and cards per kind and per exam domain."""
    kind_notes: Counter[str] = Counter(n.kind.name for n in notes)
    kind_cards: Counter[str] = Counter()
    for note in notes:
        kind_cards[note.kind.name] += note.card_count()
    kinds = [Row(name, kind_notes[name], kind_cards[name]) for name in KINDS]
    kinds.append(Row("total", len(notes), sum(kind_cards.values())))

    exams = []
    for exam in EXAMS.values():
        domain_notes: Counter[str] = Counter()
        domain_cards: Counter[str] = Counter()
        for note in notes:
            domains = {
                tag.split("::")[2]
                for tag in note.tags
                if tag.startswith(f"{EXAM_TAG_PREFIX}::{exam.code}::")
            }
            for slug in domains:
                domain_notes[slug] += 1
                domain_cards[slug] += note.card_count()
        total = sum(domain_cards.values()) or 1
        rows = tuple(
            Row(d.slug, domain_notes[d.slug], domain_cards[d.slug], d.weight,
                100 * domain_cards[d.slug] / total)
            for d in exam.domains
        )  # fmt: skip
        title = exam.title + (
            f" (retired {exam.retired_on.isoformat()})" if exam.retired_on else ""
        )
        exams.append(ExamCoverage(exam.code, title, rows))
    return Stats(tuple(kinds), tuple(exams))


def format_stats(stats: Stats) -> str:
    """Plain-text tables; a domain whose share of cards is well under its weight is flagged."""
    lines = ["Notes and cards by kind", f"  {'kind':<16}{'notes':>7}{'cards':>7}"]
    lines += [f"  {r.label:<16}{r.notes:>7}{r.cards:>7}" for r in stats.kinds]
    for exam in stats.exams:
        lines += ["", f"{exam.code}: {exam.title}"]
        lines.append(f"  {'domain':<42}{'weight':>7}{'notes':>7}{'cards':>7}{'share':>7}")
        for r in exam.rows:
            assert r.weight is not None and r.share is not None
            thin = "  <- thin" if r.share < 0.75 * r.weight else ""
            lines.append(
                f"  {r.label:<42}{r.weight:>6}%{r.notes:>7}{r.cards:>7}{r.share:>6.0f}%{thin}"
            )
    return "\n".join(lines)
