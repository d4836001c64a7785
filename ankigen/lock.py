"""The lock file: per note key, its GUID, content hash, last change time and last content.

``cards_src/ankigen.lock`` is committed beside the sources. It is what makes re-imports
safe: a note's modification time in the package is the time its content last changed, so
Anki's default "update if newer" import touches exactly the notes that changed and leaves
every other note, and the learner's own edits on it, alone. It also remembers notes that
were removed from the sources (they keep shipping, tagged ``ankigen::retired``), renamed
keys (the new key inherits the old GUID), and each note type's fields and templates, so
that a breaking change to a note type is refused.

The file is JSON with one entry per line, sorted by key, so that a pull request's diff
shows one line per changed note.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import marshal
import operator
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ankigen.apkg import guid_for_key
from ankigen.cards import KINDS, KindSpec, Note
from ankigen.diagnostics import Diagnostic, Location
from ankigen.fileio import StagedFile, sealed, unsealed
from ankigen.render import NoteType

LOCK_NAME = "ankigen.lock"
LOCK_VERSION = 1
RETIRED_TAG = "ankigen::retired"


@dataclass(frozen=True, slots=True)
class LockedNote:
    """What the lock remembers about one note."""

    key: str
    """The note's current key."""
    guid: str
    """The GUID learners' collections know it by; never changes, even across renames."""
    hash: str
    """Hash of the rendered content (kind, deck, tags, fields)."""
    changed: int
    """Unix time (seconds) at which the content last changed."""
    kind: str
    """Kind name, for shipping the note after it is retired."""
    deck: str
    """Full deck name."""
    tags: tuple[str, ...]
    """Tags as shipped."""
    fields: tuple[str, ...]
    """Field HTML in Anki order, as shipped."""
    retired: bool = False
    """The note is no longer in the sources but keeps shipping, tagged retired."""


@dataclass(frozen=True, slots=True)
class LockedNoteType:
    """What the lock remembers about one note type."""

    kind: str
    """Kind name."""
    model_id: int
    """Anki model id."""
    fields: tuple[str, ...]
    """Field names in order."""
    hash: str
    """Hash of the card templates and CSS."""
    changed: int
    """Unix time at which the templates, CSS or fields last changed."""


@dataclass(frozen=True, slots=True)
class Lock:
    """The whole lock file."""

    notes: Mapping[str, LockedNote]
    """By key."""
    note_types: Mapping[str, LockedNoteType]
    """By kind name."""
    source: LockSource | None = field(default=None, compare=False)
    """The file the entries were read from, so that unchanged notes are written back
    verbatim instead of re-serialised (a speed-up only: a line is reused only for an
    equal entry)."""


EMPTY_LOCK = Lock(notes={}, note_types={})


@dataclass(frozen=True, slots=True)
class LockUpdate:
    """The lock the sources imply, and how it differs from the lock on disk."""

    lock: Lock
    """The up-to-date lock."""
    added: tuple[str, ...]
    """Keys new since the old lock."""
    changed: tuple[str, ...]
    """Keys whose content changed."""
    retired: tuple[str, ...]
    """Keys newly retired."""
    renamed: tuple[tuple[str, str], ...]
    """(old key, new key) pairs newly renamed."""
    note_type_changes: tuple[str, ...]
    """Human descriptions of note type changes that need an import option."""
    diagnostics: tuple[Diagnostic, ...]
    """Refused changes (model id or field renames, bad renames)."""

    @property
    def stale(self) -> bool:
        """True when the lock on disk differs from the sources."""
        return bool(
            self.added or self.changed or self.retired or self.renamed or self.note_type_changes
        )


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(text: str) -> int:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None or not text.endswith("Z"):
        raise ValueError(f"time {text!r} is not UTC (YYYY-MM-DDTHH:MM:SSZ)")
    return int(moment.timestamp())


def content_hash(kind: str, deck: str, tags: Sequence[str], fields: Sequence[str]) -> str:
    """Hash of what a learner sees of a note."""
    payload = _HASH_ENCODER.encode([kind, deck, sorted(tags), list(fields)])
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


#: ``json.dumps(..., ensure_ascii=False)``, without making an encoder for every note.
_HASH_ENCODER = json.JSONEncoder(ensure_ascii=False)


def note_type_hash(note_type: NoteType) -> str:
    """Hash of a note type's templates and CSS."""
    parts = [note_type.css] + [f"{t.name}\0{t.front}\0{t.back}" for t in note_type.templates]
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class LockCache:
    """Where a parsed lock is kept between builds (under ``build/.cache/``), and its salt.

    Parsing a large lock's JSON is most of a warm build's lock stage; the parsed lock is
    kept (its entries marshalled as tuples) under the hash of the lock file's bytes and
    of ankigen's code (the salt), so a lock that changed in any way, or new code, never
    reuses it. A damaged cache file fails its checksum and is ignored.
    """

    path: Path
    """The cache file."""
    salt: str
    """A fingerprint of the code that parsed the lock."""

    def hasher(self) -> hashlib._Hash:
        """A hash to feed a lock file's bytes to; its digest is their cache key."""
        return hashlib.sha256(self.salt.encode() + b"\0")

    def key(self, data: bytes) -> bytes:
        """The cache key of a lock file's bytes."""
        digest = self.hasher()
        digest.update(data)
        return digest.digest()

    def load(self, data: bytes) -> Lock | None:
        """The parsed lock for these bytes, if cached and intact."""
        try:
            blob = self.path.read_bytes()
        except OSError:
            return None
        head = len(_CACHE_MAGIC)
        if blob[:head] != _CACHE_MAGIC or blob[head : head + 32] != self.key(data):
            return None
        payload = unsealed(memoryview(blob)[head + 32 :])
        if payload is None:
            return None
        try:
            note_rows, type_rows, canonical = marshal.loads(payload)
            notes = {row[0]: LockedNote(*row) for row in note_rows}
            types = {row[0]: LockedNoteType(*row) for row in type_rows}
        except Exception:
            return None
        source = LockSource(data, notes) if canonical is True else None
        return Lock(notes, types, source)

    def store(self, key: bytes, lock: Lock, canonical: bool = False) -> None:
        """Keep ``lock`` as the parse of the bytes with this key; failing to is not an error.

        Its lines are not kept: they are found again in the file's bytes if needed.
        ``canonical`` says the bytes were written by :func:`lock_pieces` from ``lock``
        itself: one entry per line, in the order of ``lock.notes``.
        """
        with contextlib.suppress(OSError):
            staged = StagedFile(self.path)
            try:
                # Entries as plain tuples, marshalled: several times faster than pickling
                # the objects (this runs on every build that changes the lock).
                rows = list(map(_NOTE_ROW, lock.notes.values()))
                types = list(map(_TYPE_ROW, lock.note_types.values()))
                staged.out.write(_CACHE_MAGIC + key)
                staged.out.write(sealed(marshal.dumps((rows, types, canonical))))
            except BaseException:
                staged.discard()
                raise
            staged.commit(durable=False)


_CACHE_MAGIC = b"ankigen-lock-3\n\0"
_NOTE_ROW = operator.attrgetter(*(f.name for f in dataclasses.fields(LockedNote)))
_TYPE_ROW = operator.attrgetter(*(f.name for f in dataclasses.fields(LockedNoteType)))


def read_lock(
    path: Path, display: str, cache: LockCache | None = None, remember: bool = False
) -> tuple[Lock | None, list[Diagnostic]]:
    """Read the lock file; a missing file is None, a malformed one a diagnostic.

    With ``cache``, a parse kept there for the same bytes is used; with ``remember`` too,
    a fresh parse is kept there for the next build.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        return None, [Diagnostic(Location(display), "bad-lock", f"cannot read the lock: {exc}")]
    if cache is not None:
        cached = cache.load(data)
        if cached is not None:
            return cached, []
    try:
        text = data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic(Location(display), "bad-lock", f"cannot read the lock: {exc}")]
    lock, problems = _parse_lock(text, display)
    if lock is not None and cache is not None and remember:
        cache.store(cache.key(data), lock)
    return lock, problems


def _parse_lock(text: str, display: str) -> tuple[Lock | None, list[Diagnostic]]:
    try:
        data = json.loads(text)
        if data.get("version") != LOCK_VERSION:
            raise ValueError(f"unsupported lock version {data.get('version')!r}")
        notes = {key: _note_from_json(key, value) for key, value in data["notes"].items()}
        types = {
            kind: LockedNoteType(
                kind=kind,
                model_id=int(value["model_id"]),
                fields=tuple(value["fields"]),
                hash=str(value["hash"]),
                changed=_seconds(value["changed"]),
            )
            for kind, value in data["note_types"].items()
        }
    except json.JSONDecodeError as exc:
        where = Location(display, exc.lineno, exc.colno)
        return None, [Diagnostic(where, "bad-lock", f"the lock is not valid JSON: {exc.msg}")]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        message = f"the lock is malformed ({exc!s}); restore it from git"
        return None, [Diagnostic(Location(display), "bad-lock", message)]
    return Lock(notes=notes, note_types=types), []


_NOTES_OPEN = b'"notes": {'


class LockSource:
    """The lock file a :class:`Lock` was read from, when this code wrote it: the lines of
    its note entries, so that unchanged notes are written back without re-serialising.

    Only a lock whose parse comes from the lock cache is known to be this code's output,
    one entry per line in entry order; any other (from git, or edited by hand) has no
    source and is written afresh. Lines are split out only when the writer first asks
    (a forked child, see :func:`lock_written_after`), never by the build itself.
    """

    def __init__(self, data: bytes, notes: Mapping[str, LockedNote]) -> None:
        self._data = data
        self._notes = notes
        self._found: _Lines | None = None

    def lines(self) -> _Lines:
        """Each entry's place by key, the entries and their lines (each with its comma);
        all empty if the file is not laid out as expected."""
        if self._found is None:
            self._found = self._aligned() or ({}, [], [])
            self._data = b""
        return self._found

    def _aligned(self) -> _Lines | None:
        lines = self._data.split(b"\n")
        count = len(self._notes)
        try:
            start = lines.index(_NOTES_OPEN) + 1
        except ValueError:
            return None
        if len(lines) <= start + count or lines[start + count] != b"}":
            return None
        block = lines[start : start + count]
        if block and not block[-1].endswith(b","):
            block[-1] += b","
        keys = list(self._notes)
        for at in {0, count - 1} if count else ():  # a cheap guard; the cache key proves it
            if not block[at].startswith(f'{_dump(keys[at])}: {{"changed"'.encode()):
                return None
        return {key: at for at, key in enumerate(keys)}, list(self._notes.values()), block


_Lines = tuple[dict[str, int], list[LockedNote], list[bytes]]


def _note_from_json(key: str, value: Mapping[str, Any]) -> LockedNote:
    content = value["content"]
    return LockedNote(
        key=key,
        guid=str(value["guid"]),
        hash=str(value["hash"]),
        changed=_seconds(value["changed"]),
        kind=str(content["kind"]),
        deck=str(content["deck"]),
        tags=tuple(content["tags"]),
        fields=tuple(content["fields"]),
        retired=bool(value.get("retired", False)),
    )


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _note_line(key: str, note: LockedNote) -> str:
    """One note's line (without its comma)."""
    entry: dict[str, object] = {
        "changed": _iso(note.changed),
        "content": {
            "deck": note.deck,
            "fields": list(note.fields),
            "kind": note.kind,
            "tags": list(note.tags),
        },
        "guid": note.guid,
        "hash": note.hash,
    }
    if note.retired:
        entry["retired"] = True
    return f"{_dump(key)}: {_dump(entry)}"


#: Notes per piece of the lock file: it is written piece by piece, never built whole.
_NOTES_PER_PIECE = 2000


def lock_pieces(lock: Lock) -> Iterator[bytes]:
    """The lock file in pieces: valid JSON, one note or note type per line, sorted.

    Unchanged notes' lines are copied from the file the lock was read from.
    """
    head = ["{", f'"version": {LOCK_VERSION},', '"note_types": {']
    types = sorted(lock.note_types.items())
    for number, (kind, t) in enumerate(types, start=1):
        value: dict[str, object] = {
            "changed": _iso(t.changed),
            "fields": list(t.fields),
            "hash": t.hash,
            "model_id": t.model_id,
        }
        head.append(f"{_dump(kind)}: {_dump(value)}" + ("," if number < len(types) else ""))
    head += ["},", '"notes": {']
    yield "\n".join(head).encode() + b"\n"
    places, entries, old = lock.source.lines() if lock.source is not None else ({}, [], [])
    notes = sorted(lock.notes.items())
    for begin in range(0, len(notes), _NOTES_PER_PIECE):
        piece: list[bytes] = []
        for key, note in notes[begin : begin + _NOTES_PER_PIECE]:
            at = places.get(key)
            if at is not None and (entries[at] is note or entries[at] == note):
                piece.append(old[at])
            else:
                piece.append(_note_line(key, note).encode() + b",")
        text = b"\n".join(piece)
        if begin + _NOTES_PER_PIECE >= len(notes):
            text = text.removesuffix(b",")  # the last entry
        yield text + b"\n"
    yield b"}\n}\n"


def format_lock(lock: Lock) -> str:
    """The whole lock file as text."""
    return b"".join(lock_pieces(lock)).decode("utf-8")


def _write_lines(out: BinaryIO, lock: Lock, cache: LockCache | None = None) -> None:
    """Write the lock file; with ``cache``, also keep the lock there as its own parse."""
    digest = cache.hasher() if cache is not None else None
    # Entries in file order: what read_lock returns for the file written here.
    notes = dict(sorted(lock.notes.items()))
    types = dict(sorted(lock.note_types.items()))
    for piece in lock_pieces(Lock(notes, types, lock.source)):
        out.write(piece)
        if digest is not None:
            digest.update(piece)
    if cache is not None and digest is not None:
        cache.store(digest.digest(), Lock(notes, types), canonical=True)


class LockWriteError(OSError):
    """The lock could not be written (the packages before it were); the old lock is kept."""


@contextlib.contextmanager
def lock_written_after(path: Path, lock: Lock, cache: LockCache | None = None) -> Iterator[None]:
    """Write the lock while the block runs (in a child process); put it in place after.

    Serialising a large lock is pure Python, so it runs in a forked child on another core
    while the block (packaging) runs here; a thread would fight the packager for the GIL.
    The lock replaces the old one only once both the block and the write have succeeded;
    if either fails the old lock is left as it was and the failure is raised here.
    Without ``os.fork`` the lock is simply written after the block. With ``cache``, the
    parsed lock is kept there too, so that the next build need not parse it.
    """
    staged = StagedFile(path)
    if not hasattr(os, "fork"):
        try:
            yield
        except BaseException:
            staged.discard()
            raise
        try:
            _write_lines(staged.out, lock, cache)
            staged.commit()
        except OSError as exc:
            staged.discard()
            raise LockWriteError(exc.errno or 0, exc.strerror or str(exc), str(path)) from exc
        return
    report, report_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child writes, reports a failure on the pipe, and leaves at once
        status = 1
        try:
            os.close(report)
            _write_lines(staged.out, lock, cache)
            staged.finish()
            status = 0
        except BaseException as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
            with contextlib.suppress(BaseException):
                os.write(report_end, str(reason).encode()[:4000])
        finally:
            os._exit(status)  # no parent clean-up, no flushing of inherited buffers
    os.close(report_end)
    staged.out.close()  # the parent's copy of the descriptor; nothing was written to it
    try:
        yield
    except BaseException:
        _child_failure(child, report)
        staged.discard()
        raise
    failure = _child_failure(child, report)
    if failure is not None:
        staged.discard()
        raise LockWriteError(0, failure, str(path))
    try:
        staged.commit()
    except OSError as exc:
        raise LockWriteError(exc.errno or 0, exc.strerror or str(exc), str(path)) from exc


def _child_failure(child: int, report: int) -> str | None:
    """Wait for the lock-writing child; its failure message, or None if it succeeded."""
    with os.fdopen(report, "rb") as pipe:
        message = pipe.read().decode("utf-8", "replace")
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return message or f"the writer exited with status {os.waitstatus_to_exitcode(status)}"


def _note_type_entry(
    kind: KindSpec, note_type: NoteType, old: LockedNoteType | None, now: int
) -> tuple[LockedNoteType, list[str], list[str]]:
    """The note type's new entry, changes that need an import option, refused changes."""
    fields = tuple(f.label for f in kind.fields)
    digest = note_type_hash(note_type)
    if old is None:
        return LockedNoteType(kind.name, kind.model_id, fields, digest, now), [], []
    refused: list[str] = []
    notes: list[str] = []
    if old.model_id != kind.model_id:
        refused.append(
            f"note type {kind.name!r} changed its model id from {old.model_id} to "
            f"{kind.model_id}; learners would get a second note type and duplicate notes"
        )
    if fields[: len(old.fields)] != old.fields:
        refused.append(
            f"note type {kind.name!r} renamed, removed or reordered fields "
            f"({', '.join(old.fields)} -> {', '.join(fields)}); learners' fields would be "
            "misassigned. Only appending a field is allowed"
        )
    elif len(fields) > len(old.fields):
        notes.append(
            f"{kind.name}: new field(s) {', '.join(fields[len(old.fields) :])}: learners must "
            "import with 'Merge note types' checked"
        )
    if digest != old.hash and not refused:
        notes.append(f"{kind.name}: templates or style changed (default import options apply)")
    if (fields, digest) == (old.fields, old.hash):
        return old, notes, refused
    return LockedNoteType(kind.name, kind.model_id, fields, digest, now), notes, refused


def update_lock(
    old: Lock,
    notes: Sequence[Note],
    note_types: Mapping[str, NoteType],
    renamed_from: Mapping[str, str],
    now: int,
    lock_display: str,
    digests: Mapping[str, str] | None = None,
    new_guids: Mapping[str, str] | None = None,
) -> LockUpdate:
    """Compute the lock the sources imply, given the lock on disk and the current time.

    ``digests`` and ``new_guids`` are each note's content hash and new-note GUID by key, if
    already computed (they are computed here otherwise).
    """
    diagnostics: list[Diagnostic] = []
    type_entries: dict[str, LockedNoteType] = {}
    type_changes: list[str] = []
    for name, kind in KINDS.items():
        type_entry, changes, refused = _note_type_entry(
            kind, note_types[name], old.note_types.get(name), now
        )
        type_entries[name] = type_entry
        type_changes.extend(changes)
        diagnostics.extend(
            Diagnostic(Location(lock_display), "note-type-changed", message) for message in refused
        )
    if any(old.note_types.get(n) is None for n in KINDS) and old.note_types:
        type_changes.append("new note type(s) added")

    live = {n.key for n in notes}
    entries: dict[str, LockedNote] = {}
    added: list[str] = []
    changed: list[str] = []
    renamed: list[tuple[str, str]] = []
    consumed: set[str] = set()
    by_key = {n.key: n for n in notes}
    known_guids, known_digests = new_guids or {}, digests or {}
    for note in notes:
        previous = old.notes.get(note.key)
        origin = renamed_from.get(note.key)
        if origin is not None and origin in live:
            diagnostics.append(
                Diagnostic(
                    note.location,
                    "bad-rename",
                    f"'Renamed from: {origin}' names a note that still exists",
                )
            )
            continue
        if previous is None and origin is not None:
            previous = old.notes.get(origin)
            if previous is not None:
                consumed.add(origin)
                renamed.append((origin, note.key))
        guid = (
            previous.guid
            if previous
            else known_guids.get(note.key) or guid_for_key(origin or note.key)
        )
        digest = known_digests.get(note.key) or content_hash(
            note.kind.name, note.deck, note.tags, note.field_values()
        )
        if previous is not None and previous.hash == digest and not previous.retired:
            if previous.key == note.key and previous.guid == guid:
                entries[note.key] = previous  # unchanged: the hash covers the whole content
                continue
            when = previous.changed
        else:
            when = now
            if previous is None:
                added.append(note.key)
            elif (origin, note.key) not in renamed or previous.hash != digest:
                changed.append(note.key)
        entries[note.key] = LockedNote(  # positional: this runs for every new note
            note.key, guid, digest, when, note.kind.name, note.deck, note.tags, note.field_values()
        )

    guids: dict[str, str] = {}
    for key, entry in entries.items():
        other = guids.setdefault(entry.guid, key)
        if other != key:
            diagnostics.append(
                Diagnostic(
                    by_key[key].location,
                    "bad-rename",
                    f"note shares its identity with {other!r}: only one note may be renamed "
                    "from a key",
                )
            )

    retired: list[str] = []
    for key, previous in old.notes.items():
        if key in entries or key in consumed:
            continue
        if previous.retired:
            entries[key] = previous
            continue
        tags = tuple(sorted({*previous.tags, RETIRED_TAG}))
        entries[key] = replace(
            previous,
            tags=tags,
            retired=True,
            changed=now,
            hash=content_hash(previous.kind, previous.deck, tags, previous.fields),
        )
        retired.append(key)

    return LockUpdate(
        lock=Lock(notes=entries, note_types=type_entries, source=old.source),
        added=tuple(added),
        changed=tuple(changed),
        retired=tuple(retired),
        renamed=tuple(renamed),
        note_type_changes=tuple(type_changes),
        diagnostics=tuple(diagnostics),
    )
