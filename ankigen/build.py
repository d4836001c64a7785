"""The pipeline, stage by stage: discover -> parse -> validate -> render -> package.

Each stage collects every problem before the next one runs; nothing is written unless the
sources are free of errors, and the package is written once, at the end, atomically.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ankigen.apkg import MediaFile, write_apkg
from ankigen.cards import Note
from ankigen.config import (
    DECK_FILE_STEM,
    DEFAULT_BUILD_DIR,
    DEFAULT_SOURCE_DIR,
    EXAM_TAG_PREFIX,
    NON_NOTE_FILES,
)
from ankigen.diagnostics import Diagnostic, Location, has_errors, sort_diagnostics
from ankigen.parse import SourceFile, parse_file
from ankigen.render import render_note_types
from ankigen.validate import validate

MEDIA_DIR_NAME = "media"
MEDIA_SUFFIXES = frozenset({".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"})


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """What to build, from where, to where."""

    source_dir: Path = DEFAULT_SOURCE_DIR
    """The folder of Markdown notes."""
    build_dir: Path = DEFAULT_BUILD_DIR
    """Where packages are written."""
    exams: tuple[str, ...] = ()
    """Write one deck per exam code with only its notes; empty: the full deck."""


@dataclass(frozen=True, slots=True)
class Corpus:
    """Everything read from the source folder, checked."""

    files: tuple[SourceFile, ...]
    """Parsed files, in path order."""
    notes: tuple[Note, ...]
    """Valid notes, in source order."""
    media: tuple[MediaFile, ...]
    """Images the notes show, by package name."""
    diagnostics: tuple[Diagnostic, ...]
    """Every problem, sorted."""

    @property
    def ok(self) -> bool:
        """True if there is no error."""
        return not has_errors(self.diagnostics)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build did."""

    corpus: Corpus
    """The checked sources."""
    outputs: tuple[tuple[Path, int, int], ...] = ()
    """Each package written, with its note and card counts."""
    errors: tuple[str, ...] = field(default=())
    """Problems that are not located in a source file (e.g. an exam with no notes)."""

    @property
    def ok(self) -> bool:
        """True if the sources were clean and every requested package was written."""
        return self.corpus.ok and not self.errors


def display_path(path: Path) -> str:
    """A path as shown to users: relative to the working directory where possible."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def discover(source_dir: Path) -> tuple[list[Path], list[Diagnostic]]:
    """Every note file under ``source_dir``, sorted; symlinked folders are not followed."""
    if not source_dir.is_dir():
        where = Location(display_path(source_dir))
        return [], [Diagnostic(where, "missing-source", "source folder not found")]
    problems: list[Diagnostic] = []

    def unreadable(exc: OSError) -> None:
        where = Location(display_path(Path(exc.filename or source_dir)))
        problems.append(Diagnostic(where, "unreadable-file", f"cannot read: {exc.strerror}"))

    found: list[Path] = []
    for folder, subfolders, names in os.walk(source_dir, onerror=unreadable):
        subfolders[:] = sorted(
            d for d in subfolders if d != MEDIA_DIR_NAME or folder != str(source_dir)
        )
        found.extend(
            Path(folder) / name
            for name in names
            if name.endswith(".md") and name not in NON_NOTE_FILES
        )
    return sorted(found), problems


class _MediaCollector:
    """Resolves image paths written in notes to content-hashed package files."""

    def __init__(self, source_dir: Path) -> None:
        self.root = (source_dir / MEDIA_DIR_NAME).resolve()
        self.files: dict[str, MediaFile] = {}

    def resolver(self, note_file: Path) -> object:
        def resolve(src: str) -> str | None:
            if not src or "://" in src or src.startswith(("/", "\\")) or ":" in src:
                return None
            target = (note_file.parent / src).resolve()
            if not target.is_relative_to(self.root) or target.suffix.lower() not in MEDIA_SUFFIXES:
                return None
            try:
                data = target.read_bytes()
            except OSError:
                return None
            digest = hashlib.sha256(data).hexdigest()[:12]
            name = f"{target.stem}.{digest}{target.suffix.lower()}"
            self.files[name] = MediaFile(name, data)
            return name

        return resolve


def load(source_dir: Path) -> Corpus:
    """Discover, parse and validate the sources; never raises for content problems."""
    paths, diagnostics = discover(source_dir)
    media = _MediaCollector(source_dir)
    files: list[SourceFile] = []
    for path in paths:
        parsed, problems = parse_file(path, display_path(path), media.resolver(path))  # type: ignore[arg-type]
        diagnostics.extend(problems)
        if parsed is not None:
            files.append(parsed)
    notes, problems = validate(files)
    diagnostics.extend(problems)
    if not diagnostics and not notes:
        where = Location(display_path(source_dir))
        diagnostics.append(Diagnostic(where, "empty-corpus", "no notes found"))
    return Corpus(
        files=tuple(files),
        notes=tuple(notes),
        media=tuple(media.files[name] for name in sorted(media.files)),
        diagnostics=tuple(sort_diagnostics(diagnostics)),
    )


def notes_for_exam(notes: Sequence[Note], exam: str) -> list[Note]:
    """The notes tagged for one exam."""
    prefix = f"{EXAM_TAG_PREFIX}::{exam}::"
    return [n for n in notes if any(t.startswith(prefix) for t in n.tags)]


def deck_path(build_dir: Path, exam: str | None = None) -> Path:
    """Where the full deck, or one exam's deck, is written."""
    stem = DECK_FILE_STEM if exam is None else f"{DECK_FILE_STEM}-{exam}"
    return build_dir / f"{stem}.apkg"


def check(options: BuildOptions) -> BuildResult:
    """Validate the sources without writing anything."""
    return BuildResult(corpus=load(options.source_dir))


def build(options: BuildOptions) -> BuildResult:
    """Check the sources and, if they are clean, write the requested packages."""
    corpus = load(options.source_dir)
    if not corpus.ok:
        return BuildResult(corpus=corpus)
    note_types = render_note_types()
    selections: list[tuple[Path, list[Note]]] = []
    errors: list[str] = []
    if options.exams:
        for exam in options.exams:
            chosen = notes_for_exam(corpus.notes, exam)
            if chosen:
                selections.append((deck_path(options.build_dir, exam), chosen))
            else:
                errors.append(f"no notes are tagged for exam {exam}")
    else:
        selections.append((deck_path(options.build_dir), list(corpus.notes)))
    if errors:
        return BuildResult(corpus=corpus, errors=tuple(errors))
    outputs = []
    for path, notes in selections:
        used = {m for n in notes for m in _media_of(corpus, n)}
        media = [m for m in corpus.media if m.name in used]
        write_apkg(path, notes, note_types, media)
        outputs.append((path, len(notes), sum(n.card_count() for n in notes)))
    return BuildResult(corpus=corpus, outputs=tuple(outputs))


def _media_of(corpus: Corpus, note: Note) -> set[str]:
    html = "".join(note.field_values())
    return {m.name for m in corpus.media if f'src="{m.name}"' in html}
