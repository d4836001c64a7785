"""Per-file work (parse and file-local checks): run in parallel, reused from a content cache.

Each note file's result depends only on its bytes, its path, the media folder and the
ankigen code, so it is cached under ``build/.cache/`` keyed by a hash of all four, in one
checksummed pack file. The cache is an accelerator only: an entry that is missing, stale
(any key change), truncated or corrupt is ignored and recomputed, never trusted. Files
that are not cached are parsed by this process and forked helpers together when there
are enough of them to pay for the helpers (:class:`_SharedWork`).
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import functools
import hashlib
import multiprocessing
import operator
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, get_args

from ankigen.apkg import MediaFile, guid_for_key
from ankigen.cards import CardModel, Note
from ankigen.diagnostics import Diagnostic
from ankigen.fileio import atomic_replace
from ankigen.fingerprint import code_fingerprint
from ankigen.lock import content_hash
from ankigen.media import MediaCollector, media_fingerprint
from ankigen.parse import parse_file
from ankigen.validate import CheckedNote, check_file

#: Below this many uncached files (or bytes), worker processes cost more than they save.
PARALLEL_MIN_FILES = 32
PARALLEL_MIN_BYTES = 512 * 1024
_MAGIC = b"ankigen-cache-2\n"
#: The cache file in the cache folder.
PACK_NAME = "results.pack"
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
    guids: tuple[tuple[str, str], ...] = ()
    """(key, GUID) of each checked note, as a new note gets it (from its key, or the key it
    was renamed from): computed here, in parallel, rather than for the lock, serially."""


def _reduce_by_fields(
    cls: type, values: Callable[[object], tuple[object, ...]], obj: object
) -> tuple[type, tuple[object, ...]]:
    return (cls, values(obj))


def _one_field(name: str, obj: object) -> tuple[object, ...]:
    return (getattr(obj, name),)


def fast_pickling(*classes: type) -> None:
    """Pickle these frozen dataclasses as a constructor call.

    The generic state restore of slotted frozen dataclasses looks up their fields for
    every object, which dominated loading the cache; the field values are read with one
    ``attrgetter`` call.
    """
    for cls in classes:
        names = tuple(f.name for f in dataclasses.fields(cls))
        values: Callable[[object], tuple[object, ...]] = operator.attrgetter(*names)
        if len(names) == 1:  # one name: attrgetter gives the value, not a tuple
            values = functools.partial(_one_field, names[0])
        copyreg.pickle(cls, functools.partial(_reduce_by_fields, cls, values))


fast_pickling(CheckedNote, Note, Diagnostic, MediaFile, *get_args(CardModel))


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
    guids = tuple((c.note.key, guid_for_key(c.note.renamed_from or c.note.key)) for c in checked)
    return FileResult(
        display,
        source is not None,
        tuple(checked),
        tuple(problems),
        tuple(media.files.values()),
        digests,
        guids,
    )


_Job = tuple[Path, str, Path]
"""(file, display path, source folder)."""


def _run(jobs: list[_Job], keep_pickles: bool) -> Iterator[tuple[FileResult, bytes | None]]:
    """Each job's result, in order, with its pickle if ``keep_pickles`` or it was made anyway.

    With enough work and ``os.fork``, this process and ``cores - 1`` forked helpers share
    it; see :class:`_SharedWork`.
    """
    size = 0
    for path, *_ in jobs:
        with contextlib.suppress(OSError):
            size += path.stat().st_size
    helpers = min(os.cpu_count() or 1, 8) - 1
    if (
        helpers < 1
        or len(jobs) < PARALLEL_MIN_FILES
        or size < PARALLEL_MIN_BYTES
        or not hasattr(os, "fork")
    ):
        yield from _run_here(jobs, keep_pickles)
        return
    with tempfile.TemporaryDirectory(prefix="ankigen-parse-") as scratch:
        yield from _SharedWork(jobs, helpers, Path(scratch)).results(keep_pickles)


def _run_here(
    jobs: Sequence[_Job], keep_pickles: bool
) -> Iterator[tuple[FileResult, bytes | None]]:
    for job in jobs:
        result = process_file(*job)
        yield result, pickle.dumps(result, pickle.HIGHEST_PROTOCOL) if keep_pickles else None


class _SharedWork:
    """Jobs cut into chunks, done by this process from the start and by forked helpers from
    the end, until they meet.

    The two ends are claimed through two counters in shared memory, so the work balances
    itself whatever each process's speed. This process's results need no pickling round
    trip. Helpers write theirs (pickled) to their own file, which is read once they have
    exited; any chunk a helper claimed but did not write (it failed) is done here. No
    threads: a thread in this process (as in ``concurrent.futures``) must take the GIL
    from the parsing to hand out work, and the helpers starved.
    """

    def __init__(self, jobs: Sequence[_Job], helpers: int, scratch: Path) -> None:
        step = max(1, min(32, len(jobs) // 64))
        self._chunks = [jobs[k : k + step] for k in range(0, len(jobs), step)]
        context = multiprocessing.get_context("fork")
        self._lock = context.Lock()
        self._ends = context.RawArray("q", [0, len(self._chunks)])  # next low, next high
        self._files = [scratch / f"helper-{n}.results" for n in range(helpers)]
        self._pids = [self._fork(path) for path in self._files]

    def _claim(self, from_start: bool) -> int | None:
        with self._lock:
            low, high = int(self._ends[0]), int(self._ends[1])
            if low >= high:
                return None
            if from_start:
                self._ends[0] = low + 1
                return low
            self._ends[1] = high - 1
            return high - 1

    def _fork(self, path: Path) -> int:
        pid = os.fork()
        if pid:
            return pid
        status = 1  # the helper: claim, parse, write; leave without any clean-up
        try:
            with path.open("wb") as out:
                while (index := self._claim(from_start=False)) is not None:
                    blobs = _process_jobs(self._chunks[index])
                    record = b"".join(len(b).to_bytes(8, "little") + b for b in blobs)
                    out.write(index.to_bytes(8, "little") + len(record).to_bytes(8, "little"))
                    out.write(record)
            status = 0
        finally:
            os._exit(status)

    def results(self, keep_pickles: bool) -> Iterator[tuple[FileResult, bytes | None]]:
        """Every job's result in order.

        Helpers' finished chunks are read and unpickled between this process's own
        chunks, while the helpers still work, rather than all at the end.
        """
        done_here = 0
        readers = [_HelperOutput(path) for path in self._files]
        try:
            while (index := self._claim(from_start=True)) is not None:
                yield from _run_here(self._chunks[index], keep_pickles)
                done_here = index + 1
                for reader in readers:
                    reader.poll()
            for pid in self._pids:
                os.waitpid(pid, 0)
            received: dict[int, tuple[_HelperOutput, list[tuple[FileResult, int, int]]]] = {}
            for reader in readers:
                reader.poll()
                received.update((index, (reader, got)) for index, got in reader.chunks.items())
            for index in range(done_here, len(self._chunks)):
                found = received.get(index)
                if found is None or len(found[1]) != len(self._chunks[index]):
                    yield from _run_here(self._chunks[index], keep_pickles)
                    continue
                reader, got = found
                for result, offset, length in got:
                    yield result, reader.read(offset, length)
        finally:
            for reader in readers:
                reader.close()


class _HelperOutput:
    """One helper's results file, read as it grows: whole chunk records only.

    A record is the chunk index and length (8 bytes each, little-endian), then each job's
    pickle preceded by its length. A record not yet (or never) written whole is not read.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._offset = 0
        self.chunks: dict[int, list[tuple[FileResult, int, int]]] = {}
        """Results read so far by chunk index, each with its pickle's place in the file."""

    def poll(self) -> None:
        """Read and unpickle the records written whole since the last poll."""
        if self._file is None:
            try:
                self._file = self._path.open("rb")
            except OSError:
                return  # not created yet (or never: the helper failed)
        size = os.fstat(self._file.fileno()).st_size
        while self._offset + 16 <= size:
            self._file.seek(self._offset)
            head = self._file.read(16)
            index = int.from_bytes(head[:8], "little")
            end = self._offset + 16 + int.from_bytes(head[8:], "little")
            if end > size:
                return
            record = memoryview(self._file.read(end - self._offset - 16))
            got: list[tuple[FileResult, int, int]] = []
            at = 0
            while at + 8 <= len(record):
                length = int.from_bytes(record[at : at + 8], "little")
                start = self._offset + 16 + at + 8
                got.append((_unpickle(record[at + 8 : at + 8 + length]), start, length))
                at += 8 + length
            self.chunks[index] = got
            self._offset = end

    def read(self, offset: int, length: int) -> bytes:
        """The bytes of one pickle that :meth:`poll` has read."""
        assert self._file is not None
        self._file.seek(offset)
        return self._file.read(length)

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()


def _process_jobs(jobs: Sequence[_Job]) -> list[bytes]:
    return [pickle.dumps(process_file(*job), pickle.HIGHEST_PROTOCOL) for job in jobs]


def _unpickle(data: bytes | memoryview) -> FileResult:
    value = pickle.loads(data)
    if not isinstance(value, FileResult):
        raise TypeError(f"not a FileResult: {type(value).__name__}")
    return value


def read_pack(path: Path) -> dict[bytes, memoryview]:
    """The entries of a cache pack by key; empty if it is missing, damaged or of another format.

    A pack is ``_MAGIC``, then records (32-byte key, 8-byte little-endian length, payload),
    then the SHA-256 of everything after the magic: one checksum guards every entry.
    """
    try:
        blob = memoryview(path.read_bytes())
    except OSError:
        return {}
    body = blob[len(_MAGIC) : len(blob) - 32]
    if blob[: len(_MAGIC)] != _MAGIC or len(blob) < len(_MAGIC) + 32:
        return {}
    if hashlib.sha256(body).digest() != blob[len(blob) - 32 :]:
        return {}
    entries: dict[bytes, memoryview] = {}
    at = 0
    while at < len(body):
        if at + 40 > len(body):
            return {}
        key = bytes(body[at : at + 32])
        size = int.from_bytes(body[at + 32 : at + 40], "little")
        if at + 40 + size > len(body):
            return {}
        entries[key] = body[at + 40 : at + 40 + size]
        at += 40 + size
    return entries


class PackWriter:
    """Writes a cache pack record by record (never the whole pack in memory).

    Failing to write is not an error (a cache that cannot be written only costs time): it
    sets ``failed``, and the caller abandons the file.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._digest = hashlib.sha256()
        self.failed = False
        """True once a write failed."""
        self._write(_MAGIC, hashed=False)

    def _write(self, data: bytes | memoryview, hashed: bool = True) -> None:
        if self.failed:
            return
        if hashed:
            self._digest.update(data)
        try:
            self._out.write(data)
        except OSError:
            self.failed = True

    def add(self, key: bytes, payload: bytes | memoryview) -> None:
        """Append one entry."""
        self._write(key + len(payload).to_bytes(8, "little"))
        self._write(payload)

    def finish(self) -> None:
        """Write the checksum that makes the pack valid."""
        self._write(self._digest.digest(), hashed=False)


class _Abandoned(Exception):
    """Raised to make ``atomic_replace`` drop a pack that could not be written whole."""


def process_all(
    paths: Sequence[tuple[Path, str]],
    source_dir: Path,
    cache_dir: Path | None,
    write: bool,
    progress: Progress | None = None,
) -> list[FileResult]:
    """Results for every (path, display) in order, from the cache where possible.

    The cache is one pack file (one file to open and one checksum, however many note
    files); it is rewritten, streaming, only when an entry is added or dropped.
    """
    prefix = f"{code_fingerprint()}\0{media_fingerprint(source_dir)}\0".encode()
    pack_path = cache_dir / PACK_NAME if cache_dir is not None else None
    pack = read_pack(pack_path) if pack_path is not None else {}
    keys: list[bytes | None] = []
    results: list[FileResult | None] = []
    for path, display in paths:
        key: bytes | None = None
        found: FileResult | None = None
        if pack_path is not None:
            try:
                data = path.read_bytes()
            except OSError:
                data = None
            if data is not None:
                key = hashlib.sha256(prefix + display.encode() + b"\0" + data).digest()
                cached = pack.get(key)
                if cached is not None:
                    with contextlib.suppress(Exception):
                        found = _unpickle(cached)
        keys.append(key)
        results.append(found)

    missing = [i for i, r in enumerate(results) if r is None]
    jobs: list[_Job] = [(paths[i][0], paths[i][1], source_dir) for i in missing]
    live = {k for k in keys if k is not None}
    rewrite = write and pack_path is not None and (bool(missing) or live != set(pack))
    try:
        with contextlib.ExitStack() as stack:
            writer: PackWriter | None = None
            if rewrite and pack_path is not None:
                with contextlib.suppress(OSError):
                    out = stack.enter_context(atomic_replace(pack_path, durable=False))
                    writer = PackWriter(out)
            _fill(results, keys, pack, jobs, writer, progress)
            if writer is not None:
                writer.finish()
                if writer.failed:
                    raise _Abandoned
    except _Abandoned:
        pass
    except OSError:
        if any(r is None for r in results):
            raise
        # else only the pack could not be put in place: the results are complete
    if write and cache_dir is not None and cache_dir.is_dir():
        for entry in cache_dir.iterdir():
            if entry.name != PACK_NAME and not entry.name.startswith(f".{PACK_NAME}."):
                entry.unlink(missing_ok=True)  # e.g. entries in an older cache layout
    return [r for r in results if r is not None]


def _fill(
    results: list[FileResult | None],
    keys: Sequence[bytes | None],
    pack: Mapping[bytes, memoryview],
    jobs: list[_Job],
    writer: PackWriter | None,
    progress: Progress | None,
) -> None:
    """Compute the missing results in order; stream every live entry to ``writer``."""
    fresh = _run(jobs, keep_pickles=writer is not None)
    done = len(results) - len(jobs)
    written: set[bytes] = set()
    for i, key in enumerate(keys):
        pickled: bytes | memoryview | None = None
        if results[i] is None:
            results[i], pickled = next(fresh)
            done += 1
            if progress is not None:
                progress("parse", done, len(results))
        elif key is not None:
            pickled = pack[key]
        if writer is not None and key is not None and pickled is not None and key not in written:
            writer.add(key, pickled)
            written.add(key)
