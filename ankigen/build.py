"""The pipeline, stage by stage: discover -> parse -> validate -> render -> package, with the
change record (``lock.py``) giving each note its identity and change time.

Every build runs the whole path from the Markdown: nothing is cached between builds and
nothing shipped comes from anywhere else. Each stage collects every problem before the
next one runs; nothing is written unless the sources are free of errors, and the packages
are put in place together, at the end. A build writes only into the build folder.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ankigen import cards as cards_module
from ankigen.config import DECK_FILE_STEM, DEFAULT_BUILD_DIR, DEFAULT_SOURCE_DIR, EXAM_TAG_PREFIX
from ankigen.diagnostics import Diagnostic, Location, has_errors, sort_diagnostics
from ankigen.discover import NoteFile, Sources, discover, display_path
from ankigen.fileio import scratch_folder, staging
from ankigen.history import GitError, Repository
from ankigen.lock import (
    LOCK_NAME,
    Settlement,
    content_hash,
    format_record,
    history_times,
    read_record,
    settle,
)
from ankigen.media import MediaLibrary, Shipped
from ankigen.package import PackagedNote, write_package
from ankigen.parse import parse
from ankigen.render import RenderedNote, render_note, render_note_types, templates_dir
from ankigen.validate import CorpusEntry, check_corpus, check_file, corpus_entry


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """What to build, from where, to where."""

    source_dir: Path = DEFAULT_SOURCE_DIR
    """The folder of Markdown notes."""
    build_dir: Path = DEFAULT_BUILD_DIR
    """Where packages are written (and nothing else is)."""
    exams: tuple[str, ...] = ()
    """Write one deck per exam code with only its notes; empty: the full deck."""
    lock_path: Path | None = None
    """The change record; default ``<source_dir>/ankigen.lock``."""
    now: int | None = None
    """The time given to changes that git history cannot date (edits not committed yet,
    or no git at all). Default: ``SOURCE_DATE_EPOCH`` if set, else the clock."""

    def lock_file(self) -> Path:
        """The change record this build reads."""
        return self.lock_path or self.source_dir / LOCK_NAME

    def timestamp(self) -> int:
        """The time for changes that history cannot date."""
        if self.now is not None:
            return self.now
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
        if epoch.isascii() and epoch.isdigit() and int(epoch) < 4_102_444_800:  # year 2100
            return int(epoch)
        return int(time.time())


@dataclass(frozen=True, slots=True)
class Corpus:
    """Everything read from the source folder, checked and rendered."""

    sources: Sources
    """The files read."""
    notes: tuple[RenderedNote, ...]
    """Checked notes, rendered, in source order."""
    diagnostics: tuple[Diagnostic, ...]
    """Every problem, sorted."""

    @property
    def ok(self) -> bool:
        """True if there is no error."""
        return not has_errors(self.diagnostics)

    @property
    def files(self) -> tuple[str, ...]:
        """The note files read, as displayed."""
        return tuple(f.display for f in self.sources.notes)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a check or build found and did."""

    corpus: Corpus
    """The checked sources."""
    settlement: Settlement | None = None
    """Each note's identity and change time (None if the sources had errors)."""
    extra: tuple[Diagnostic, ...] = ()
    """Problems after the sources: the record, writing."""
    outputs: tuple[tuple[Path, int, int], ...] = ()
    """Each package written, with its note and card counts."""

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Every problem found, sorted."""
        return tuple(sort_diagnostics([*self.corpus.diagnostics, *self.extra]))

    @property
    def ok(self) -> bool:
        """True if nothing stopped the build."""
        return not has_errors(self.diagnostics)


@dataclass(frozen=True, slots=True)
class FileResult:
    """What one note file gives: its notes, rendered, and its problems. Plain data (no
    parser tokens), so that it is small to keep and cheap to hand between processes."""

    notes: tuple[RenderedNote, ...]
    """Its notes that passed the checks, rendered."""
    entries: tuple[CorpusEntry, ...]
    """What the checks across files compare of each."""
    diagnostics: tuple[Diagnostic, ...]
    """Its problems."""


def process_file(file: NoteFile, media: MediaLibrary) -> FileResult:
    """One note file through parse, validate and render: everything that needs only it."""
    source, problems = parse(file.text, file.display)
    notes, more = check_file(file, source, media)
    return FileResult(
        tuple(render_note(n) for n in notes),
        tuple(corpus_entry(n) for n in notes),
        (*problems, *more),
    )


def load(source_dir: Path) -> Corpus:
    """Discover, parse, validate and render the sources; never raises for content problems."""
    sources = discover(source_dir)
    diagnostics = list(sources.diagnostics)
    notes: list[RenderedNote] = []
    entries: list[CorpusEntry] = []
    media = MediaLibrary(sources.media)
    for result in (process_file(file, media) for file in sources.notes):
        notes.extend(result.notes)
        entries.extend(result.entries)
        diagnostics.extend(result.diagnostics)
    diagnostics.extend(check_corpus(entries))
    if not sources.notes and not diagnostics:
        where = Location(display_path(source_dir))
        diagnostics.append(Diagnostic(where, "empty-corpus", "no notes found"))
    return Corpus(sources, tuple(notes), tuple(sort_diagnostics(diagnostics)))


def _hashes_at(sources: Sources) -> Callable[[str, bytes], Mapping[str, str]]:
    """Content hashes of the notes in a past version of a note file (for ``lock.py``)."""
    media = MediaLibrary(sources.media)

    def hashes(relative: str, data: bytes) -> Mapping[str, str]:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return {}
        result = process_file(NoteFile(relative, relative, text), media)
        return {note.key: content_hash(note) for note in result.notes}

    return hashes


def _type_history(repository: Repository | None) -> int | None:
    """When the note types (templates, CSS, kinds) last changed, from git."""
    if repository is None:
        return None
    paths = [templates_dir(), Path(cards_module.__file__)]
    try:
        relative = [repository.relative(p) for p in paths]
        if repository.changed_in_work_tree(*relative):
            return None
        return repository.last_change(*relative)
    except (GitError, ValueError):
        return None


def settle_corpus(corpus: Corpus, options: BuildOptions) -> tuple[Settlement, list[Diagnostic]]:
    """Match the checked notes against the change record and git history."""
    lock_file = options.lock_file()
    display = display_path(lock_file)
    repository = Repository.find(corpus.sources.root)
    loaded = read_record(lock_file, display, repository)
    times = history_times(repository, corpus.sources.root, _hashes_at(corpus.sources))
    settlement = settle(
        loaded,
        corpus.notes,
        render_note_types(),
        display,
        times,
        lambda: _type_history(repository),
        repository is not None,
        options.timestamp(),
    )
    return settlement, list(settlement.diagnostics)


def check(options: BuildOptions) -> BuildResult:
    """Check the sources and the change record; write nothing."""
    corpus = load(options.source_dir)
    if not corpus.ok:
        return BuildResult(corpus)
    settlement, problems = settle_corpus(corpus, options)
    return BuildResult(corpus, settlement, tuple(problems))


def deck_path(build_dir: Path, exam: str | None = None) -> Path:
    """Where the full deck, or one exam's deck, is written."""
    stem = DECK_FILE_STEM if exam is None else f"{DECK_FILE_STEM}-{exam}"
    return build_dir / f"{stem}.apkg"


def _packaged(
    notes: Sequence[RenderedNote], settlement: Settlement
) -> list[tuple[PackagedNote, RenderedNote]]:
    return [
        (
            PackagedNote(
                key=note.key,
                guid=settlement.guids[note.key],
                kind=note.kind.name,
                deck=note.deck,
                tags=note.tags,
                fields=note.html(),
                changed=settlement.changed(note.key),
            ),
            note,
        )
        for note in notes
    ]


def build(options: BuildOptions) -> BuildResult:
    """Check the sources and, if they are clean, write the requested packages.

    The packages are written aside and put in place together at the end: a failure leaves
    every previous package as it was and no temporary file behind.
    """
    checked = check(options)
    if not checked.ok or checked.settlement is None:
        return checked
    settlement = checked.settlement
    packaged = _packaged(checked.corpus.notes, settlement)
    selections: list[tuple[Path, list[tuple[PackagedNote, RenderedNote]]]] = []
    problems: list[Diagnostic] = []
    if options.exams:
        for exam in options.exams:
            prefix = f"{EXAM_TAG_PREFIX}::{exam}::"
            chosen = [p for p in packaged if any(t.startswith(prefix) for t in p[0].tags)]
            if chosen:
                selections.append((deck_path(options.build_dir, exam), chosen))
            else:
                where = Location(display_path(options.source_dir))
                problems.append(
                    Diagnostic(where, "empty-corpus", f"no notes are tagged for exam {exam}")
                )
    else:
        selections.append((deck_path(options.build_dir), packaged))
    if problems:
        return replace(checked, extra=(*checked.extra, *problems))
    note_types = render_note_types()
    outputs = []
    try:
        with scratch_folder(options.build_dir) as scratch, staging(options.build_dir) as stage:
            for path, chosen in selections:
                media: dict[str, Shipped] = {}
                for _, note in chosen:
                    media.update((s.name, s) for s in note.media)
                with stage.open(path) as out:
                    cards = write_package(
                        out,
                        [p for p, _ in chosen],
                        note_types,
                        list(media.values()),
                        settlement.type_times,
                        scratch,
                    )
                outputs.append((path, len(chosen), cards))
    except (OSError, sqlite3.Error) as exc:
        return replace(checked, extra=(*checked.extra, _write_failed(options.build_dir, exc)))
    return replace(checked, outputs=tuple(outputs))


def _write_failed(folder: Path, exc: OSError | sqlite3.Error) -> Diagnostic:
    where = folder
    if isinstance(exc, OSError) and exc.filename:
        where = Path(str(exc.filename))
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Diagnostic(
        Location(display_path(where)),
        "write-failed",
        f"cannot write: {reason}; every previous file is left as it was",
    )


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What ``ankigen record`` found and did."""

    result: BuildResult
    """The check it ran first."""
    text: str | None = None
    """The record's new text (None if the sources had errors)."""
    changed: bool = False
    """True if the record on disk differs from it."""
    written: bool = False
    """True if the new record was written."""


def record(options: BuildOptions, write: bool = True) -> RecordResult:
    """Bring the change record up to date with the sources (or, with ``write=False``, only
    say whether it is)."""
    checked = check(options)
    if not checked.ok or checked.settlement is None:
        return RecordResult(checked)
    text = format_record(checked.settlement.record)
    path = options.lock_file()
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    changed = current != text
    if not changed or not write:
        return RecordResult(checked, text, changed)
    try:
        with staging(options.build_dir) as stage, stage.open(path) as out:
            out.write(text.encode("utf-8"))
    except OSError as exc:
        failed = replace(checked, extra=(*checked.extra, _write_failed(path, exc)))
        return RecordResult(failed, text, changed)
    return RecordResult(checked, text, changed, written=True)


__all__ = [
    "BuildOptions",
    "BuildResult",
    "Corpus",
    "RecordResult",
    "build",
    "check",
    "deck_path",
    "display_path",
    "load",
    "record",
]
