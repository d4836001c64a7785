"""Deck coverage: notes per kind, and per exam notes per domain and task beside the weights."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ankigen.cards import KINDS
from ankigen.config import EXAM_TAG_PREFIX, EXAMS
from ankigen.render import RenderedNote

#: A task with fewer notes than this is flagged as thin.
MIN_NOTES_PER_TASK = 8
#: A domain whose share of an exam's notes is further than this from its weight is flagged.
SHARE_TOLERANCE = 5.0


@dataclass(frozen=True, slots=True)
class KindRow:
    """Notes and cards of one kind."""

    kind: str
    """Kind name, or ``total``."""
    notes: int
    """Notes of this kind."""
    cards: int
    """Cards those notes make."""


@dataclass(frozen=True, slots=True)
class TaskRow:
    """Notes written for one task of an exam."""

    number: str
    """Task number, e.g. ``2.3``."""
    title: str
    """The task statement."""
    notes: int
    """Notes tagged with this task."""

    @property
    def thin(self) -> bool:
        """Fewer notes than :data:`MIN_NOTES_PER_TASK`."""
        return self.notes < MIN_NOTES_PER_TASK


@dataclass(frozen=True, slots=True)
class DomainRow:
    """Notes of one exam domain."""

    slug: str
    """Domain tag segment."""
    weight: int
    """The domain's exam weight in percent."""
    notes: int
    """Notes tagged with this domain (or one of its tasks)."""
    cards: int
    """Cards those notes make."""
    share: float
    """This domain's share of the notes tagged for the exam's domains, in percent."""
    tasks: tuple[TaskRow, ...]
    """Its tasks, in guide order."""

    @property
    def off_weight(self) -> bool:
        """The share is further than :data:`SHARE_TOLERANCE` points from the weight."""
        return abs(self.share - self.weight) > SHARE_TOLERANCE


@dataclass(frozen=True, slots=True)
class ExamCoverage:
    """Coverage of one exam."""

    code: str
    """Exam code."""
    title: str
    """Exam name, with its retirement date if retired."""
    domains: tuple[DomainRow, ...]
    """One row per domain, in guide order."""


@dataclass(frozen=True, slots=True)
class Stats:
    """The whole report."""

    kinds: tuple[KindRow, ...]
    """One row per kind, then a total."""
    exams: tuple[ExamCoverage, ...]
    """One table per exam."""


def compute(notes: Sequence[RenderedNote]) -> Stats:
    """Count notes and cards per kind, and per exam domain and task."""
    kind_notes: Counter[str] = Counter(n.kind.name for n in notes)
    kind_cards: Counter[str] = Counter()
    for note in notes:
        kind_cards[note.kind.name] += note.card_count()
    kinds = [KindRow(name, kind_notes[name], kind_cards[name]) for name in KINDS]
    kinds.append(KindRow("total", len(notes), sum(kind_cards.values())))

    exams = []
    for exam in EXAMS.values():
        domain_notes: Counter[str] = Counter()
        domain_cards: Counter[str] = Counter()
        task_notes: Counter[tuple[str, str]] = Counter()
        for note in notes:
            parts = [
                tag.split("::")
                for tag in note.tags
                if tag.startswith(f"{EXAM_TAG_PREFIX}::{exam.code}::")
            ]
            for slug in {p[2] for p in parts}:
                domain_notes[slug] += 1
                domain_cards[slug] += note.card_count()
            for slug, number in {(p[2], p[3]) for p in parts if len(p) == 4}:
                task_notes[(slug, number)] += 1
        total = sum(domain_notes.values()) or 1
        rows = tuple(
            DomainRow(
                d.slug,
                d.weight,
                domain_notes[d.slug],
                domain_cards[d.slug],
                100 * domain_notes[d.slug] / total,
                tuple(TaskRow(t.number, t.title, task_notes[(d.slug, t.number)]) for t in d.tasks),
            )
            for d in exam.domains
        )
        title = exam.title + (
            f" (retired {exam.retired_on.isoformat()})" if exam.retired_on else ""
        )
        exams.append(ExamCoverage(exam.code, title, rows))
    return Stats(tuple(kinds), tuple(exams))


def format_stats(stats: Stats) -> str:
    """Plain-text tables; thin tasks and domains off their weight are flagged."""
    lines = ["Notes and cards by kind", f"  {'kind':<16}{'notes':>7}{'cards':>7}"]
    lines += [f"  {r.kind:<16}{r.notes:>7}{r.cards:>7}" for r in stats.kinds]
    for exam in stats.exams:
        lines += ["", f"{exam.code}: {exam.title}"]
        lines.append(f"  {'domain / task':<46}{'weight':>7}{'notes':>7}{'share':>7}{'cards':>7}")
        for d in exam.domains:
            flag = "  <- off weight" if d.off_weight else ""
            lines.append(
                f"  {d.slug:<46}{d.weight:>6}%{d.notes:>7}{d.share:>6.0f}%{d.cards:>7}{flag}"
            )
            for t in d.tasks:
                thin = f"  <- thin (under {MIN_NOTES_PER_TASK})" if t.thin else ""
                lines.append(f"    {t.number} {t.title[:40]:<40}{'':>7}{t.notes:>7}{thin}")
    return "\n".join(lines)
