"""The change record: what changed, and when. It holds no HTML and no field text.

``cards_src/ankigen.lock`` keeps, for each note key, the time its content last changed,
a hash of that content (its Markdown, deck, tags and images) and, for a renamed note, the
GUID it keeps; for each note type, its model id, fields, a hash of its templates and CSS
and when they changed. The times are what make re-imports safe: Anki's default import
updates a note only when the incoming one is newer, so only notes that changed replace
learners' copies, and their own edits on every other note stay.

The record is written only by ``ankigen record`` (run by CI on main), never by a pull
request, so two pull requests never conflict in it. A note that is not in the record yet,
or changed since, gets the time of the commit that last changed its content, read from
git history (``history.py``); outside git, the build time, with a warning. If the record
is missing, the last version committed to git is used; a damaged record is an error.

Format: text, one line per note or note type, sorted; ``#`` starts a comment::

    type <kind> <model-id> <changed> <hash> <field>|<field>|...
    note <key> <changed> <hash> [<guid>]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ankigen.cards import KINDS
from ankigen.diagnostics import Diagnostic, Location, warning
from ankigen.discover import MEDIA_DIR_NAME
from ankigen.history import GitError, Repository, Version
from ankigen.package import guid_for_key
from ankigen.render import NoteType, RenderedNote
from ankigen.validate import KEY

LOCK_NAME = "ankigen.lock"
_HEADER = (
    "# ankigen change record: when each note last changed, so that re-imports update exactly\n"
    "# the notes that changed. Written by `ankigen record` on main; see CONTRIBUTING.md.\n"
    "# type <kind> <model-id> <changed> <hash> <fields>  /  note <key> <changed> <hash> [<guid>]\n"
)
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_MODEL_ID = re.compile(r"^[0-9]{1,19}$")
#: A recorded time later than this after now is refused: it would make a note "newer"
#: than every learner's copy forever, so it could never be updated again.
MAX_CLOCK_SKEW = 24 * 3600
_HASH = re.compile(r"^[0-9a-f]{20}$")
_GUID = re.compile(r"^[!-~]{1,64}$")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z ()/-]*$")
_MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class RecordedNote:
    """What the record says of one note."""

    key: str
    """The note's key."""
    changed: int
    """When its content last changed (Unix seconds)."""
    hash: str
    """:func:`content_hash` of that content."""
    guid: str
    """The GUID learners' collections know it by."""


@dataclass(frozen=True, slots=True)
class RecordedType:
    """What the record says of one note type."""

    kind: str
    """Kind name."""
    model_id: int
    """Anki model id."""
    fields: tuple[str, ...]
    """Field names in order."""
    hash: str
    """:func:`note_type_hash` of its templates and CSS."""
    changed: int
    """When the templates, CSS or fields last changed."""


@dataclass(frozen=True, slots=True)
class Record:
    """The whole change record."""

    notes: Mapping[str, RecordedNote] = field(default_factory=lambda: MappingProxyType({}))
    """By key."""
    types: Mapping[str, RecordedType] = field(default_factory=lambda: MappingProxyType({}))
    """By kind name."""
    lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    """The line of each note key in the file read, for locating problems."""


def iso(seconds: int) -> str:
    """A Unix time as the record writes it."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(text: str) -> int | None:
    """A recorded time as Unix seconds, or None if it is no real time (or is in the future)."""
    if not _TIME.match(text):
        return None
    try:
        moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    seconds = int(moment.timestamp())
    return seconds if 0 <= seconds <= time.time() + MAX_CLOCK_SKEW else None


def content_hash(note: RenderedNote) -> str:
    """A hash of what a learner gets of a note, taken from its Markdown: kind, deck, tags,
    each field's source and the images it ships. Independent of the installed Markdown
    and highlighting libraries, which change how the same source renders."""
    fields = [
        [spec.label, None if value is None else value.source]
        for spec, value in zip(note.kind.fields, note.values(), strict=True)
    ]
    images = [shipped.name for shipped in note.media]
    payload = json.dumps([note.kind.name, note.deck, list(note.tags), fields, images])
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def note_type_hash(note_type: NoteType) -> str:
    """A hash of a note type's templates and CSS."""
    parts = [note_type.css] + [f"{t.name}\0{t.front}\0{t.back}" for t in note_type.templates]
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:20]


# -- reading and writing ---------------------------------------------------------------


def parse_record(text: str, display: str) -> tuple[Record, list[Diagnostic]]:
    """Read a record's text; every malformed line is a located error. A key given twice (as
    a hand merge may leave it) counts once, at its latest time."""
    notes: dict[str, RecordedNote] = {}
    types: dict[str, RecordedType] = {}
    lines: dict[str, int] = {}
    problems: list[Diagnostic] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue

        def bad(message: str, column: int = 1, number: int = number) -> None:
            problems.append(
                Diagnostic(
                    Location(display, number, column),
                    "bad-lock",
                    f"{message}; restore the record from git "
                    f"(git checkout -- {display}) or delete it to have it recovered",
                )
            )

        if len(line) > _MAX_LINE:
            bad("line too long")
            continue
        words = line.split(" ")
        if words[0] == "note" and len(words) in (4, 5):
            key, changed, digest = words[1:4]
            guid = words[4] if len(words) == 5 else guid_for_key(key)
            when = _seconds(changed)
            if not KEY.match(key):
                bad(f"{key[:60]!r} is not a note key", 6)
            elif when is None:
                bad(
                    f"{changed[:30]!r} is not a past time (YYYY-MM-DDTHH:MM:SSZ, UTC)",
                    7 + len(key),
                )
            elif not _HASH.match(digest) or not _GUID.match(guid):
                bad("malformed hash or GUID", 8 + len(key) + len(changed))
            else:
                entry = RecordedNote(key, when, digest, guid)
                known = notes.get(key)
                if known is None or known.changed <= entry.changed:
                    notes[key] = entry
                    lines[key] = number
        elif words[0] == "type" and len(words) >= 6:
            kind, model_id, changed, digest = words[1:5]
            fields = tuple(" ".join(words[5:]).split("|"))
            when = _seconds(changed)
            if (
                not re.fullmatch(r"[a-z]+", kind)
                or not _MODEL_ID.match(model_id)
                or when is None
                or not _HASH.match(digest)
                or not all(_FIELD.match(f) for f in fields)
            ):
                bad("malformed note type line")
            else:
                types[kind] = RecordedType(kind, int(model_id), fields, digest, when)
        else:
            bad("expected 'note <key> <changed> <hash> [<guid>]' or a 'type' line")
    return Record(
        MappingProxyType(notes), MappingProxyType(types), MappingProxyType(lines)
    ), problems


def format_record(record: Record) -> str:
    """The record file's text: sorted, one entry per line."""
    out = [_HEADER]
    for kind in sorted(record.types):
        t = record.types[kind]
        fields = "|".join(t.fields)
        out.append(f"type {kind} {t.model_id} {iso(t.changed)} {t.hash} {fields}\n")
    for key in sorted(record.notes):
        n = record.notes[key]
        guid = "" if n.guid == guid_for_key(key) else f" {n.guid}"
        out.append(f"note {key} {iso(n.changed)} {n.hash}{guid}\n")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Loaded:
    """The record a build starts from, and how it was found."""

    record: Record
    """The record (empty if there is none)."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """Problems reading it, or how it was recovered."""


def read_record(path: Path, display: str, repository: Repository | None) -> Loaded:
    """The record at ``path``; if it is missing, the last version committed to git."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _recover(path, display, repository)
    except OSError as exc:
        problem = Diagnostic(Location(display), "bad-lock", f"cannot read: {exc.strerror}")
        return Loaded(Record(), (problem,))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problem = Diagnostic(Location(display), "bad-lock", "the record is not UTF-8 text")
        return Loaded(Record(), (problem,))
    if text.lstrip().startswith("{"):
        message = "the record is in the old JSON format; run 'ankigen record' to rewrite it"
        return Loaded(Record(), (Diagnostic(Location(display), "bad-lock", message),))
    record, problems = parse_record(text, display)
    return Loaded(record, tuple(problems))


def _recover(path: Path, display: str, repository: Repository | None) -> Loaded:
    where = Location(display)
    if repository is not None:
        try:
            relative = repository.relative(path)
            versions = repository.history(relative).get(relative, [])
            blobs = repository.read_blobs(v.blob for v in versions if v.blob)
            for version in versions:
                data = blobs.get(version.blob or "")
                if data is None:
                    continue
                try:
                    record, problems = parse_record(data.decode("utf-8"), display)
                except UnicodeDecodeError:
                    continue
                if not problems and record.notes:
                    message = (
                        f"the change record is missing; using the version committed in "
                        f"{version.commit[:12]} ({iso(version.time)}), and git history for "
                        "notes changed since"
                    )
                    return Loaded(record, (warning(where, "recovered-lock", message),))
        except (GitError, ValueError):
            pass
        message = (
            "there is no change record, here or in git history: each note's change time "
            "comes from the git commit that last changed it"
        )
        return Loaded(Record(), (warning(where, "recovered-lock", message),))
    message = (
        "there is no change record and no git history: every note is taken to have "
        "changed now, so learners' own edits would be replaced on their next import"
    )
    return Loaded(Record(), (warning(where, "recovered-lock", message),))


# -- settling: the record the sources imply --------------------------------------------

#: Finds when the listed notes last changed, from history: given the pending notes by
#: key, returns the times it could establish.
TimeSource = Callable[[Sequence[RenderedNote]], Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class Settlement:
    """Each note's identity and change time, and the record that says so."""

    record: Record
    """The record the sources imply (what ``ankigen record`` writes)."""
    guids: Mapping[str, str]
    """Each note's GUID, by key."""
    type_times: Mapping[str, int]
    """Each note type's change time, by kind name."""
    derived: tuple[str, ...]
    """Keys whose time did not come from the record."""
    diagnostics: tuple[Diagnostic, ...]
    """Refused changes (removed notes, note type changes) and assumptions."""

    def changed(self, key: str) -> int:
        """When a note last changed."""
        return self.record.notes[key].changed

    @property
    def current(self) -> bool:
        """True if the record on disk already says all this."""
        return not self.derived and not any(d.code == "recovered-lock" for d in self.diagnostics)


def settle(
    loaded: Loaded,
    notes: Sequence[RenderedNote],
    note_types: Mapping[str, NoteType],
    display: str,
    history: TimeSource,
    type_history: Callable[[], int | None],
    in_git: bool,
    at: int,
) -> Settlement:
    """Match the notes against the record: what is unchanged keeps its time, what changed or
    is new gets the time history gives it (a note edited but not committed yet: now);
    removals and breaking changes are refused."""
    old = loaded.record
    problems: list[Diagnostic] = list(loaded.diagnostics)
    lock_at = Location(display)

    types: dict[str, RecordedType] = {}
    type_pending: list[str] = []
    for name, kind in KINDS.items():
        fields = tuple(f.label for f in kind.fields)
        digest = note_type_hash(note_types[name])
        before = old.types.get(name)
        if before is not None and before.model_id != kind.model_id:
            problems.append(
                Diagnostic(
                    lock_at,
                    "note-type-changed",
                    f"note type {name!r} changed its model id from {before.model_id} to "
                    f"{kind.model_id}; learners would get a second note type and duplicates",
                )
            )
        if before is not None and fields[: len(before.fields)] != before.fields:
            problems.append(
                Diagnostic(
                    lock_at,
                    "note-type-changed",
                    f"note type {name!r} renamed, removed or reordered fields "
                    f"({', '.join(before.fields)} -> {', '.join(fields)}); learners' fields "
                    "would be misassigned. Only appending a field is allowed",
                )
            )
        if before is not None and (before.fields, before.hash) == (fields, digest):
            types[name] = before
        else:
            type_pending.append(name)
            types[name] = RecordedType(name, kind.model_id, fields, digest, 0)
    if type_pending:
        when = type_history() or at
        for name in type_pending:
            types[name] = dataclasses.replace(types[name], changed=when)

    entries: dict[str, RecordedNote] = {}
    guids: dict[str, str] = {}
    pending: list[RenderedNote] = []
    live = {n.key for n in notes}
    taken_over = {n.renamed_from for n in notes if n.renamed_from}
    for note in notes:
        known = old.notes.get(note.key)
        if known is None and note.renamed_from:
            known = old.notes.get(note.renamed_from)
        guid = known.guid if known else guid_for_key(note.renamed_from or note.key)
        guids[note.key] = guid
        digest = content_hash(note)
        if known is not None and known.hash == digest:
            entries[note.key] = RecordedNote(note.key, known.changed, digest, guid)
        else:
            entries[note.key] = RecordedNote(note.key, 0, digest, guid)
            pending.append(note)

    seen: dict[str, str] = {}
    for key, guid in sorted(guids.items()):
        other = seen.setdefault(guid, key)
        if other != key:
            problems.append(
                Diagnostic(
                    next(n.location for n in notes if n.key == key),
                    "bad-rename",
                    f"note shares its identity with {other!r}: a key can pass to one note only",
                )
            )

    for key in sorted(set(old.notes) - live - taken_over):
        problems.append(
            Diagnostic(
                Location(display, old.lines.get(key, 1)),
                "removed-note",
                f"note {key!r} is gone from the sources, but learners have it: keep it with "
                "'- **Retired:** <why>' so that it ships tagged ankigen::retired (or restore "
                "it); renamed notes say '- **Renamed from:** <old key>'",
            )
        )

    derived: list[str] = []
    if pending:
        found = history(pending)
        assumed: list[str] = []
        for note in pending:
            if note.key not in found:
                assumed.append(note.key)
            when = found.get(note.key, at)
            entries[note.key] = dataclasses.replace(entries[note.key], changed=when)
            derived.append(note.key)
        if assumed and not in_git:
            problems.append(
                warning(
                    lock_at,
                    "assumed-time",
                    f"{len(assumed)} note(s) are not in the change record and there is no git "
                    f"history to date them (e.g. {assumed[0]!r}): they are taken to have "
                    "changed now (SOURCE_DATE_EPOCH if set)",
                )
            )
    record = Record(MappingProxyType(entries), MappingProxyType(types))
    return Settlement(
        record,
        MappingProxyType(guids),
        MappingProxyType({name: t.changed for name, t in types.items()}),
        tuple(derived),
        tuple(problems),
    )


def history_times(
    repository: Repository | None,
    source_root: Path,
    hashes_at: Callable[[str, bytes], Mapping[str, str]],
) -> TimeSource:
    """A :data:`TimeSource` reading git: a note's time is when the commit that gave it its
    current content landed on this branch (first parent), and not earlier than the last
    change to an image it shows. A note edited but not committed has no time here.

    ``hashes_at(relative, data)`` gives the content hash of each note in a version of a
    note file (``relative`` is its path inside the source folder).
    """

    def times(pending: Sequence[RenderedNote]) -> Mapping[str, int]:
        if repository is None or not pending:
            return {}
        try:
            folder = repository.relative(source_root)
            log = repository.history(folder)
            changed = repository.changed_in_work_tree(folder)
        except (GitError, ValueError):
            return {}

        def in_repository(relative: str) -> str:
            return relative if folder == "." else f"{folder}/{relative}"

        found: dict[str, int] = {}
        # Per file: its versions, newest first (the first is HEAD's), how far the walk has
        # got, and the notes whose content is still matched.
        walks: dict[str, tuple[list[Version], dict[str, str]]] = {}
        for note in pending:
            versions = log.get(in_repository(note.file), [])
            walk = walks.setdefault(note.file, (versions, {}))
            walk[1][note.key] = content_hash(note)
        depth = 0
        while walks:
            blobs = repository.read_blobs(
                blob
                for versions, _ in walks.values()
                if depth < len(versions) and (blob := versions[depth].blob)
            )
            for relative in list(walks):
                versions, wanted = walks[relative]
                version = versions[depth] if depth < len(versions) else None
                data = blobs.get(version.blob) if version and version.blob else None
                hashes = hashes_at(relative, data) if data is not None else {}
                for key in list(wanted):
                    if version is not None and hashes.get(key) == wanted[key]:
                        found[key] = version.time  # this content, at least this old
                    else:
                        del wanted[key]
                if not wanted:
                    del walks[relative]
            depth += 1
        for note in pending:
            for shipped in note.media:
                image = in_repository(f"{MEDIA_DIR_NAME}/{shipped.source}")
                history = log.get(image, [])
                if note.key not in found:
                    break
                if image in changed or not history:
                    del found[note.key]  # an image not committed yet: no time in history
                    break
                found[note.key] = max(found[note.key], history[0].time)
        return found

    return times
