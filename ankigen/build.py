"""The pipeline, stage by stage: discover -> parse -> validate -> render -> package.

Each stage collects every problem before the next one runs; nothing is written unless the
sources are free of errors, and the package is written once, at the end, atomically.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ankigen.apkg import MediaFile, PackagedNote, write_apkg
from ankigen.cards import Note
from ankigen.config import (
    DECK_FILE_STEM,
    DEFAULT_BUILD_DIR,
    DEFAULT_SOURCE_DIR,
    EXAM_TAG_PREFIX,
    NON_NOTE_FILES,
)
from ankigen.diagnostics import Diagnostic, Location, has_errors, sort_diagnostics
from ankigen.fingerprint import code_fingerprint
from ankigen.incremental import Progress, process_all
from ankigen.lock import (
    EMPTY_LOCK,
    LOCK_NAME,
    LockCache,
    LockUpdate,
    lock_written_after,
    read_lock,
    update_lock,
)
from ankigen.media import MEDIA_DIR_NAME
from ankigen.render import render_note_types
from ankigen.validate import check_corpus


class Timer:
    """Wall-clock seconds per pipeline stage, for ``benchmarks/run.py``."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: tuple[tuple[str, float], ...] = ()

    def lap(self, stage: str) -> None:
        """Close the stage that has been running since the previous lap."""
        now = time.perf_counter()
        self.laps = (*self.laps, (stage, now - self._last))
        self._last = now


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """What to build, from where, to where."""

    source_dir: Path = DEFAULT_SOURCE_DIR
    """The folder of Markdown notes."""
    build_dir: Path = DEFAULT_BUILD_DIR
    """Where packages are written."""
    exams: tuple[str, ...] = ()
    """Write one deck per exam code with only its notes; empty: the full deck."""
    lock_path: Path | None = None
    """The lock file; default ``<source_dir>/ankigen.lock``."""
    now: int | None = None
    """The time recorded for content that changes in this build. Default:
    ``SOURCE_DATE_EPOCH`` if set, else the current time. Never written into a package
    except as the change time of a note that changed."""

    update_lock: bool = True
    """Write the lock when the sources changed it (off for previews)."""
    use_cache: bool = True
    """Reuse per-file results from ``<build_dir>/.cache`` (see ``incremental.py``)."""
    progress: Progress | None = field(default=None, compare=False)
    """Told how far each long stage has got (the CLI draws a bar on a terminal)."""

    def cache_dir(self) -> Path | None:
        """Where per-file results are cached, or None."""
        return self.build_dir / ".cache" / "files" if self.use_cache else None

    def lock_cache(self) -> LockCache | None:
        """Where the parsed lock is kept between builds, or None."""
        if not self.use_cache:
            return None
        return LockCache(self.build_dir / ".cache" / "lock.parsed", code_fingerprint())

    def lock_file(self) -> Path:
        """The lock file this build reads and updates."""
        return self.lock_path or self.source_dir / LOCK_NAME

    def timestamp(self) -> int:
        """The change time for notes that change in this build."""
        if self.now is not None:
            return self.now
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
        return int(epoch) if epoch.isdigit() else int(time.time())


@dataclass(frozen=True, slots=True)
class Corpus:
    """Everything read from the source folder, checked."""

    files: tuple[str, ...]
    """The note files read, in path order, as displayed."""
    notes: tuple[Note, ...]
    """Valid notes, in source order."""
    media: tuple[MediaFile, ...]
    """Images the notes show, by package name."""
    diagnostics: tuple[Diagnostic, ...]
    """Every problem, sorted."""
    timings: tuple[tuple[str, float], ...] = ()
    """Seconds spent in each stage, in order."""
    digests: Mapping[str, str] = field(default_factory=dict)
    """Content hash of each note by key (computed per file, so cached with it)."""
    guids: Mapping[str, str] = field(default_factory=dict)
    """The GUID each note gets if it is new to the lock, by key (computed per file too)."""

    @property
    def ok(self) -> bool:
        """True if there is no error."""
        return not has_errors(self.diagnostics)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build did."""

    corpus: Corpus
    """The checked sources."""
    lock: LockUpdate | None = None
    """The lock the sources imply and how it differs from the one on disk (None if the
    sources had errors)."""
    outputs: tuple[tuple[Path, int, int], ...] = ()
    """Each package written, with its note and card counts."""
    errors: tuple[str, ...] = field(default=())
    """Problems that are not located in a source file (e.g. an exam with no notes)."""
    timings: tuple[tuple[str, float], ...] = ()
    """Seconds per stage: discover, parse, validate, lock, render, package, write-lock."""

    @property
    def ok(self) -> bool:
        """True if the sources were clean and every requested package was written."""
        return self.corpus.ok and not self.errors

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Every problem found, sorted."""
        return self.corpus.diagnostics


def display_path(path: Path) -> str:
    """A path as shown to users: relative to the working directory where possible."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def display_paths(paths: Sequence[Path]) -> list[str]:
    """:func:`display_path` of many files, resolving each folder once, not each file."""
    cwd = Path.cwd().resolve()
    folders: dict[Path, Path] = {}
    shown: list[str] = []
    for path in paths:
        if path.is_symlink():
            shown.append(display_path(path))  # shown as what it points to
            continue
        folder = folders.get(path.parent)
        if folder is None:
            folder = folders[path.parent] = path.parent.resolve()
        try:
            shown.append((folder / path.name).relative_to(cwd).as_posix())
        except ValueError:
            shown.append(path.as_posix())
    return shown


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


def load(
    source_dir: Path,
    cache_dir: Path | None = None,
    write_cache: bool = False,
    progress: Progress | None = None,
) -> Corpus:
    """Discover, parse and validate the sources; never raises for content problems.

    With ``cache_dir``, per-file results are reused from (and, with ``write_cache``,
    stored in) a content-addressed cache; see ``incremental.py``.
    """
    timer = Timer()
    paths, diagnostics = discover(source_dir)
    timer.lap("discover")
    results = process_all(
        list(zip(paths, display_paths(paths), strict=True)),
        source_dir,
        cache_dir,
        write_cache,
        progress,
    )
    timer.lap("parse")
    files = [r.path for r in results if r.parsed]
    checked = [c for r in results for c in r.checked]
    media = {m.name: m for r in results for m in r.media}
    diagnostics.extend(d for r in results for d in r.diagnostics)
    diagnostics.extend(check_corpus(checked))
    if not diagnostics and not checked:
        where = Location(display_path(source_dir))
        diagnostics.append(Diagnostic(where, "empty-corpus", "no notes found"))
    timer.lap("validate")
    return Corpus(
        files=tuple(files),
        notes=tuple(c.note for c in checked),
        media=tuple(media[name] for name in sorted(media)),
        diagnostics=tuple(sort_diagnostics(diagnostics)),
        timings=timer.laps,
        digests=dict(itertools.chain.from_iterable(r.digests for r in results)),
        guids=dict(itertools.chain.from_iterable(r.guids for r in results)),
    )


def deck_path(build_dir: Path, exam: str | None = None) -> Path:
    """Where the full deck, or one exam's deck, is written."""
    stem = DECK_FILE_STEM if exam is None else f"{DECK_FILE_STEM}-{exam}"
    return build_dir / f"{stem}.apkg"


def _lock_stage(
    corpus: Corpus, options: BuildOptions, remember: bool
) -> tuple[LockUpdate | None, Corpus]:
    """Read the lock and compute the lock the sources imply; refused changes are errors.

    ``remember`` keeps a fresh parse of the lock in the cache (builds do; checks only read).
    """
    path = options.lock_file()
    display = display_path(path)
    old, problems = read_lock(path, display, options.lock_cache(), remember)
    if problems:
        return None, _with(corpus, problems)
    update = update_lock(
        old or EMPTY_LOCK,
        corpus.notes,
        render_note_types(),
        {n.key: n.renamed_from for n in corpus.notes if n.renamed_from},
        options.timestamp(),
        display,
        corpus.digests,
        corpus.guids,
    )
    return update, _with(corpus, update.diagnostics)


def _with(corpus: Corpus, extra: Sequence[Diagnostic]) -> Corpus:
    if not extra:
        return corpus
    merged = sort_diagnostics([*corpus.diagnostics, *extra])
    return replace(corpus, diagnostics=tuple(merged))


def stale_lock_diagnostics(
    update: LockUpdate, corpus: Corpus, lock_display: str
) -> list[Diagnostic]:
    """What ``check`` reports when the lock on disk is out of date with the sources."""
    hint = f"run 'ankigen build' and commit {lock_display}"
    where = {n.key: n.location for n in corpus.notes}
    lock_at = Location(lock_display)
    problems = [
        Diagnostic(where[key], "stale-lock", f"note {key!r} is not in the lock; {hint}")
        for key in update.added
    ]
    problems += [
        Diagnostic(where[key], "stale-lock", f"note {key!r} changed since the lock; {hint}")
        for key in update.changed
    ]
    problems += [
        Diagnostic(
            where[new], "stale-lock", f"rename {old!r} -> {new!r} is not in the lock; {hint}"
        )
        for old, new in update.renamed
    ]
    problems += [
        Diagnostic(
            lock_at,
            "stale-lock",
            f"note {key!r} was removed from the sources; {hint} to ship it as retired",
        )
        for key in update.retired
    ]
    problems += [
        Diagnostic(lock_at, "stale-lock", f"note type change not in the lock ({change}); {hint}")
        for change in update.note_type_changes
    ]
    return problems


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for one pipeline run.

    A build allocates hundreds of thousands of small, acyclic objects (tokens, notes),
    and the collector's repeated passes over them took a third of a cold build's time.
    Reference counting still frees everything; the collector resumes afterwards. What
    outlives the build (its result) is first moved to the permanent generation
    (``gc.freeze``): otherwise the first allocation after resuming walks every object the
    build made (a tenth of a warm build). The next run puts them back (``unfreeze``), so
    repeated builds in one process do not pile up there.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def check(options: BuildOptions) -> BuildResult:
    """Validate the sources and the lock without writing anything (the cache is only read)."""
    with _no_cyclic_gc():
        return _check(options)


def _check(options: BuildOptions) -> BuildResult:
    corpus = load(
        options.source_dir, options.cache_dir(), write_cache=False, progress=options.progress
    )
    if not corpus.ok:
        return BuildResult(corpus=corpus)
    update, corpus = _lock_stage(corpus, options, remember=False)
    if update is not None and corpus.ok and update.stale:
        display = display_path(options.lock_file())
        if not options.lock_file().exists():
            problems = [
                Diagnostic(
                    Location(display),
                    "stale-lock",
                    f"the lock file is missing; run 'ankigen build' and commit {display}",
                )
            ]
        else:
            problems = stale_lock_diagnostics(update, corpus, display)
        corpus = _with(corpus, problems)
    return BuildResult(corpus=corpus, lock=update)


def _packaged(update: LockUpdate) -> list[PackagedNote]:
    """Every note the lock says ships, live or retired: its entries are what is packaged."""
    return list(update.lock.notes.values())


def build(options: BuildOptions) -> BuildResult:
    """Check the sources and, if they are clean, write the requested packages and the lock.

    Packages are put in place first and the lock last, each atomically (the lock is
    written meanwhile by a forked child, see ``lock.lock_written_after``), so a failure
    leaves the previous deck and lock as they were.
    """
    with _no_cyclic_gc():
        return _build(options)


def _build(options: BuildOptions) -> BuildResult:
    corpus = load(
        options.source_dir, options.cache_dir(), write_cache=True, progress=options.progress
    )
    if not corpus.ok:
        return BuildResult(corpus=corpus)
    timer = Timer()
    lock_missing = not options.lock_file().exists()
    update, corpus = _lock_stage(corpus, options, remember=options.update_lock)
    timer.lap("lock")
    if update is None or not corpus.ok:
        return BuildResult(corpus=corpus, lock=update)
    note_types = render_note_types()
    timer.lap("render")
    packaged = _packaged(update)
    selections: list[tuple[Path, list[PackagedNote]]] = []
    errors: list[str] = []
    if options.exams:
        for exam in options.exams:
            prefix = f"{EXAM_TAG_PREFIX}::{exam}::"
            chosen = [p for p in packaged if any(t.startswith(prefix) for t in p.tags)]
            if chosen:
                selections.append((deck_path(options.build_dir, exam), chosen))
            else:
                errors.append(f"no notes are tagged for exam {exam}")
    else:
        selections.append((deck_path(options.build_dir), packaged))
    if errors:
        return BuildResult(corpus=corpus, lock=update, errors=tuple(errors))
    type_mods = {kind: entry.changed for kind, entry in update.lock.note_types.items()}
    outputs = []
    with contextlib.ExitStack() as stack:
        if options.update_lock and (update.stale or lock_missing):
            # Written meanwhile (with its parse for the next build), put in place after
            # the packages.
            lock_file, lock_cache = options.lock_file(), options.lock_cache()
            stack.enter_context(lock_written_after(lock_file, update.lock, lock_cache))
        for number, (path, notes) in enumerate(selections, start=1):
            if options.progress is not None:
                options.progress("package", number - 1, len(selections))
            media: list[MediaFile] = []
            if corpus.media:
                html = "".join(f for n in notes for f in n.fields)
                media = [m for m in corpus.media if f'src="{m.name}"' in html]
            package_cache = None
            if options.use_cache:
                package_cache = options.build_dir / ".cache" / "package" / path.stem
            cards = write_apkg(path, notes, note_types, media, type_mods, package_cache)
            outputs.append((path, len(notes), cards))
        timer.lap("package")
    timer.lap("write-lock")
    return BuildResult(
        corpus=corpus, lock=update, outputs=tuple(outputs), timings=corpus.timings + timer.laps
    )
