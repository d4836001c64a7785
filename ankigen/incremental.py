"""Per-file work (parse and file-local checks): run in parallel, reused from a content cache.

Each note file's result depends only on its bytes, its path, the media folder and the
ankigen code, so it is cached under ``build/.cache/`` keyed by a hash of all four. The
cache is an accelerator only: an entry that is missing, stale (any key change), truncated
or corrupt is ignored and recomputed, never trusted. Files that are not cached are parsed
in worker processes when there are enough of them to pay for the processes.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import functools
import hashlib
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar, get_args

from ankigen.apkg import MediaFile
from ankigen.cards import CardModel, Note
from ankigen.diagnostics import Diagnostic
from ankigen.fileio import atomic_replace
from ankigen.lock import content_hash
from ankigen.media import MediaCollector, media_fingerprint
from ankigen.parse import parse_file
from ankigen.validate import CheckedNote, check_file

#: Below this many uncached files (or bytes), worker processes cost more than they save.
PARALLEL_MIN_FILES = 32
PARALLEL_MIN_BYTES = 512 * 1024
_MAGIC = b"ankigen-cache-1\n"
T = TypeVar("T")
#: Called as work advances: (stage, done, total).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class FileResult:
    """Everything one note file contributes before the corpus-wide checks."""

    path: str
    """The file as shown in diagnostics."""
    parsed: bool
    """False if the file could not be read or decoded."""
    checked: tuple[CheckedNote, ...]
    """Its notes that passed the file-local checks."""
    diagnostics: tuple[Diagnostic, ...]
    """Its problems."""
    media: tuple[MediaFile, ...]
    """The images its notes show."""
    digests: tuple[tuple[str, str], ...] = ()
    """(key, content hash) of each checked note, as the lock compares them."""


def _reduce_by_fields(names: tuple[str, ...], obj: object) -> tuple[type, tuple[object, ...]]:
    return (type(obj), tuple(getattr(obj, name) for name in names))


def fast_pickling(*classes: type) -> None:
    """Pickle these frozen dataclasses as a constructor call.

    The generic state restore of slotted frozen dataclasses looks up their fields for
    every object, which dominated loading the cache.
    """
    for cls in classes:
        names = tuple(f.name for f in dataclasses.fields(cls))
        copyreg.pickle(cls, functools.partial(_reduce_by_fields, names))


fast_pickling(CheckedNote, Note, Diagnostic, MediaFile, *get_args(CardModel))


@cache
def code_fingerprint() -> str:
    """A hash of ankigen's own source, so that a changed parser never reuses old results."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def process_file(path: Path, display: str, source_dir: Path) -> FileResult:
    """Parse one file and run its file-local checks."""
    media = MediaCollector(source_dir)
    source, problems = parse_file(path, display, media.resolver(path))
    checked: list[CheckedNote] = []
    if source is not None:
        checked, more = check_file(source)
        problems = [*problems, *more]
    digests = tuple(
        (
            c.note.key,
            content_hash(c.note.kind.name, c.note.deck, c.note.tags, c.note.field_values()),
        )
        for c in checked
    )
    return FileResult(
        display,
        source is not None,
        tuple(checked),
        tuple(problems),
        tuple(media.files.values()),
        digests,
    )


_Job = tuple[Path, str, Path, Path | None]
"""(file, display path, source folder, cache entry to store the result in, if any)."""


def _process_job(job: _Job) -> FileResult:
    path, display, source_dir, entry = job
    result = process_file(path, display, source_dir)
    if entry is not None:
        store_cached(entry, result)  # in the worker: the result is pickled once less
    return result


def load_cached(path: Path, expected: type[T]) -> T | None:
    """A value stored by :func:`store_cached`, or None if missing, corrupt or of another type."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head = blob[: len(_MAGIC)]
    checksum = blob[len(_MAGIC) : len(_MAGIC) + 32]
    payload = blob[len(_MAGIC) + 32 :]
    if head != _MAGIC or hashlib.sha256(payload).digest() != checksum:
        return None
    try:
        value = pickle.loads(payload)
    except Exception:
        return None
    return value if isinstance(value, expected) else None


def store_cached(path: Path, value: object) -> None:
    """Store a value for :func:`load_cached`; failing to is not an error."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    blob = _MAGIC + hashlib.sha256(payload).digest() + payload
    with contextlib.suppress(OSError), atomic_replace(path) as out:
        out.write(blob)  # a cache that cannot be written only costs time


def process_all(
    paths: Sequence[tuple[Path, str]],
    source_dir: Path,
    cache_dir: Path | None,
    write: bool,
    progress: Progress | None = None,
) -> list[FileResult]:
    """Results for every (path, display) in order, from the cache where possible."""
    prefix = f"{code_fingerprint()}\0{media_fingerprint(source_dir)}\0".encode()
    keys: list[str | None] = []
    results: list[FileResult | None] = []
    for path, display in paths:
        key: str | None = None
        found: FileResult | None = None
        if cache_dir is not None:
            try:
                data = path.read_bytes()
            except OSError:
                data = None
            if data is not None:
                key = hashlib.sha256(prefix + display.encode() + b"\0" + data).hexdigest()
                found = load_cached(cache_dir / f"{key}.pickle", FileResult)
        keys.append(key)
        results.append(found)

    missing = [i for i, r in enumerate(results) if r is None]
    jobs: list[_Job] = []
    for i in missing:
        key = keys[i]
        entry = cache_dir / f"{key}.pickle" if write and cache_dir and key else None
        jobs.append((paths[i][0], paths[i][1], source_dir, entry))
    done = len(paths) - len(missing)
    for i, result in zip(missing, _run(jobs), strict=True):
        results[i] = result
        done += 1
        if progress is not None:
            progress("parse", done, len(paths))
    if write and cache_dir is not None and cache_dir.is_dir():
        live = {f"{k}.pickle" for k in keys if k}
        for entry in cache_dir.iterdir():
            if entry.name not in live:
                entry.unlink(missing_ok=True)
    return [r for r in results if r is not None]


def _run(jobs: list[_Job]) -> Iterator[FileResult]:
    size = 0
    for path, *_ in jobs:
        with contextlib.suppress(OSError):
            size += path.stat().st_size
    workers = min(os.cpu_count() or 1, 8)
    methods = multiprocessing.get_all_start_methods()
    if workers < 2 or len(jobs) < PARALLEL_MIN_FILES or size < PARALLEL_MIN_BYTES:
        yield from (_process_job(job) for job in jobs)
        return
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    chunk = max(1, min(16, len(jobs) // (workers * 4)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_process_job, jobs, chunksize=chunk)
