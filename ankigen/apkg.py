"""Rendered notes -> ``.apkg``. The only module that imports genanki.

Identity lives here: note GUIDs come from the note key (never from its text), deck ids from
the deck name, model ids from ``cards.KINDS``. genanki fills the collection database (its
notes' rows batched, see ``_Note`` and ``_RowBatcher``); this module writes the zip itself
(``ziparchive``) so that the package is compressed, reproducible and replaced atomically:
a failed write leaves the previous deck untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import re
import sqlite3
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import genanki

from ankigen.fileio import atomic_replace, sealed, unsealed
from ankigen.fingerprint import code_fingerprint
from ankigen.render import NoteType
from ankigen.ziparchive import Entry, ZipWriter, default_threads

#: Deflate level: 1 keeps most of the size reduction (the collection is repetitive HTML)
#: at a fraction of the default level's time.
_ZIP_LEVEL = 1


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file shipped in the package's media folder."""

    name: str
    """File name in the package (content-hashed, so names never collide)."""
    data: bytes
    """File content."""


class PackagedNote(Protocol):
    """A note exactly as it goes into the package (the lock's entries are these)."""

    @property
    def guid(self) -> str:
        """Identity in learners' collections."""

    @property
    def kind(self) -> str:
        """Kind name; selects the note type."""

    @property
    def deck(self) -> str:
        """Full deck name."""

    @property
    def tags(self) -> tuple[str, ...]:
        """Tags."""

    @property
    def fields(self) -> tuple[str, ...]:
        """Field HTML in Anki order."""

    @property
    def changed(self) -> int:
        """Modification time (seconds): when the note's content last changed."""

    @property
    def hash(self) -> str:
        """A hash of kind, deck, tags and fields: it tells which cached rows are still
        valid without hashing every field again."""


def guid_for_key(key: str) -> str:
    """The note GUID: a function of the stable key alone."""
    return str(genanki.guid_for("ankigen", key))


def deck_id(name: str) -> int:
    """A stable deck id from the full deck name."""
    digest = hashlib.sha256(f"ankigen-deck:{name}".encode()).digest()
    return (1 << 40) | int.from_bytes(digest[:5], "big")


def _row_id(guid: str) -> int:
    """A stable note id from the GUID, so that unchanged notes give unchanged rows."""
    digest = hashlib.sha256(f"ankigen-id:{guid}".encode()).digest()
    return (1 << 50) | int.from_bytes(digest[:5], "big")


def note_ids(guids: Iterable[str]) -> dict[str, int]:
    """Each GUID's note id: :func:`_row_id`, made unique across the whole set.

    Ids have 40 random bits, so among 100,000 notes two collide about once in 200 decks.
    Colliding GUIDs are taken in sorted order: the first keeps the id, each next one
    takes the next free id. Deterministic for a given set of notes; a note whose id moves
    because another note arrived is rewritten like any changed note (its id is part of
    what the package cache compares).
    """
    ids = {guid: _row_id(guid) for guid in guids}
    if len(set(ids.values())) == len(ids):
        return ids  # the usual case
    wanted = sorted((note_id, guid) for guid, note_id in ids.items())
    ids = {}
    taken: set[int] = set()
    for note_id, guid in wanted:
        while note_id in taken:
            note_id += 1
        taken.add(note_id)
        ids[guid] = note_id
    return ids


#: Card ids are the note id followed by the card's template number in these low bits, so
#: a note's cards sort together and after its id (rows and the nid index are appended).
_ORD_BITS = 4


def _card_ords(cards: Sequence[genanki.Card]) -> list[int]:
    """The cards' template numbers, checked to fit the card id layout."""
    ords = [card.ord for card in cards]
    assert all(0 <= o < 1 << _ORD_BITS for o in ords), "too many templates for the card ids"
    return ords


class _Note(genanki.Note):  # type: ignore[misc]
    """genanki's note, carrying its own change time, its rows going to the
    :class:`_RowBatcher` directly (see :meth:`write_to_db`).

    Tags were validated by ``validate.check_tag`` (no whitespace), so they are kept as
    given instead of being checked again one by one. genanki's own ``write_to_db`` also
    scans fields for malformed HTML tags (a warning only) and checks the field count;
    neither applies: fields are ankigen's rendered HTML, padded to the note type.
    """

    def __init__(self, mod: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mod = mod
        """When the note's content last changed: the ``mod`` of its rows."""

    @property
    def tags(self) -> list[str]:
        return self._tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self._tags = value

    def write_to_db(
        self, cursor: _RowBatcher, timestamp: float, deck_id: int, id_gen: Iterator[int]
    ) -> None:
        """The rows genanki's own ``Note.write_to_db`` writes (a note, then each card), with
        the note's change time as their ``mod``, handed over as tuples rather than one
        ``execute`` call each; ``tests/test_anki.py`` compares them with genanki's."""
        note_id = next(id_gen)
        cursor.add_note(
            (note_id, self.guid, self.model.model_id, self.mod, -1, self._format_tags(),
             self._format_fields(), self.sort_field, 0, 0, "")
        )  # fmt: skip
        for card in self.cards:
            queue = -1 if card.suspend else 0
            cursor.add_card(
                (next(id_gen), note_id, deck_id, card.ord, self.mod, -1, 0, queue, self.due,
                 0, 0, 0, 0, 0, 0, 0, 0, "")
            )  # fmt: skip


def _model(note_type: NoteType) -> genanki.Model:
    kind = note_type.kind
    return genanki.Model(
        kind.model_id,
        f"ankigen: {kind.title}",
        fields=[{"name": f.label} for f in kind.fields],
        templates=[{"name": t.name, "qfmt": t.front, "afmt": t.back} for t in note_type.templates],
        css=note_type.css,
        sort_field_index=0,
    )


def _col_decks(
    notes: Sequence[PackagedNote], models: Mapping[str, genanki.Model]
) -> list[genanki.Deck]:
    """genanki decks for the collection row: each deck with the note types of its notes
    (what genanki records from the notes a deck holds), by name."""
    decks: dict[str, genanki.Deck] = {}
    for note in notes:
        deck = decks.get(note.deck)
        if deck is None:
            deck = decks[note.deck] = genanki.Deck(deck_id(note.deck), note.deck)
        deck.add_model(models[note.kind])
    return [decks[name] for name in sorted(decks)]


def _genanki_notes(
    notes: Sequence[PackagedNote],
    models: Mapping[str, genanki.Model],
    ids_by_guid: Mapping[str, int],
) -> Iterator[tuple[_Note, int, list[int]]]:
    """Each note as genanki's note, in ascending id order, with its deck id and its row ids
    (the note's, then each card's).

    Ids come from the GUIDs, so that unchanged notes give unchanged rows whatever else
    changes; in id order, every batch of rows is appended to its table. Which cards a
    note gets depends only on its note type and which of its fields are empty: genanki
    works that out once per such shape, and notes of the same shape share the answer.
    Notes are made one at a time, never all held at once.
    """
    widths = {name: len(model.fields) for name, model in models.items()}
    shapes: dict[tuple[str, tuple[bool, ...]], tuple[list[genanki.Card], list[int]]] = {}
    deck_ids: dict[str, int] = {}
    for note_id, note in sorted((ids_by_guid[n.guid], n) for n in notes):
        fields = list(note.fields)
        width = widths[note.kind]
        if len(fields) != width:
            fields = [*fields, *[""] * (width - len(fields))][:width]
        written = _Note(
            note.changed,
            model=models[note.kind],
            fields=fields,
            guid=note.guid,
            tags=list(note.tags),
        )
        shape = (note.kind, tuple(map(bool, fields)))
        known = shapes.get(shape)
        if known is None:
            cards = written.cards  # genanki's own rule
            known = shapes[shape] = (cards, _card_ords(cards))
        else:
            written.cards = known[0]  # cached by genanki as an instance attribute, so set
        deck = deck_ids.get(note.deck)
        if deck is None:
            deck = deck_ids[note.deck] = deck_id(note.deck)
        yield written, deck, [note_id, *[note_id << _ORD_BITS | o for o in known[1]]]


def _write_notes(
    cursor: sqlite3.Cursor,
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    ids_by_guid: Mapping[str, int],
) -> None:
    """Write a complete collection holding ``notes`` with genanki, each with its own time.

    genanki writes the schema and the collection row (decks and note types); each note
    then writes its rows as genanki's ``Note.write_to_db`` would, in id order (genanki
    itself writes deck by deck, which at 100,000 notes scattered every batch of rows over
    the whole table). Anki's default import updates a note only if the incoming
    modification time is newer, so each note and its cards carry the time the note's
    content last changed (from the lock), not the build time genanki would stamp.
    """
    models = {name: _model(nt) for name, nt in note_types.items()}
    rows = _RowBatcher(cursor)
    genanki.Package(_col_decks(notes, models)).write_to_db(rows, 0, iter(()))
    for written, deck, ids in _genanki_notes(notes, models, ids_by_guid):
        written.write_to_db(rows, 0, deck, iter(ids))
    rows.finish()


class _RowBatcher:
    """The cursor genanki writes through: note and card rows are batched, the rest passes.

    Notes (:class:`_Note`) hand over their rows, which are inserted in batches, in id
    order, with one ``executemany`` per table, and the schema's indexes are built once
    after all rows are in (:meth:`finish`). genanki's other statements (reading and
    updating the ``col`` row as each deck is written) run at once; one that touches notes
    or cards would flush the pending rows first.
    """

    _NOTES = "INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?);"
    _CARDS = "INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?);"
    _TOUCHES_ROWS = re.compile(r"\b(notes|cards)\b", re.IGNORECASE)
    BATCH_NOTES = 20_000
    """Rows are inserted at the latest after this many notes."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self._notes: list[tuple[object, ...]] = []
        self._cards: list[tuple[object, ...]] = []
        self._indexes: list[tuple[str, str]] | None = None

    def add_note(self, row: tuple[object, ...]) -> None:
        """Keep a note row (its id first)."""
        self._notes.append(row)
        if len(self._notes) >= self.BATCH_NOTES:
            self.flush()  # bounded memory: at 100,000 notes all rows would be ~130 MB

    def add_card(self, row: tuple[object, ...]) -> None:
        """Keep a card row (its id first)."""
        self._cards.append(row)

    def execute(self, sql: str, params: Sequence[object] = ()) -> object:
        """Run a statement (after flushing the kept rows, if it reads or writes them)."""
        if sql in (self._NOTES, self._CARDS):
            raise AssertionError("genanki wrote a row past _Note.write_to_db")
        if self._TOUCHES_ROWS.search(sql):
            self.flush()
        return self._cursor.execute(sql, params)

    def executescript(self, script: str) -> object:
        """Run a script after flushing.

        The first is genanki's schema: its indexes are set aside until :meth:`finish`, as
        building each index once from all rows is cheaper than growing it row by row.
        """
        self.flush()
        result = self._cursor.executescript(script)
        if self._indexes is None:
            self._indexes = self._cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                " ORDER BY rowid"
            ).fetchall()
            for name, _ in self._indexes:
                self._cursor.execute(f'DROP INDEX "{name}"')
        return result

    def finish(self) -> None:
        """Insert the rows kept so far and build the indexes set aside."""
        self.flush()
        for _, sql in self._indexes or ():
            self._cursor.execute(sql)
        self._indexes = []

    def flush(self) -> None:
        """Insert the rows kept so far."""
        # In id order, each row is appended to its table instead of splitting pages here
        # and there; the file is rewritten canonically afterwards, so order leaves no trace.
        # (Ids are unique, so tuples compare on their first item alone.)
        if self._notes:
            self._notes.sort()
            self._cursor.executemany(self._NOTES, self._notes)
            self._notes = []
        if self._cards:
            self._cards.sort()
            self._cursor.executemany(self._CARDS, self._cards)
            self._cards = []


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    # Scratch files that are read back at once: no journal, no syncing.
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    # A 32 MiB page cache holds a 10,000-note collection whole; bounded, as memory counts.
    connection.execute("PRAGMA cache_size = -32768")
    return connection


def _note_type_signature(note_type: NoteType) -> str:
    parts = [str(note_type.kind.model_id), *(f.label for f in note_type.kind.fields)]
    parts += [f"{t.name}\0{t.front}\0{t.back}" for t in note_type.templates]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _note_digests(
    notes: Sequence[PackagedNote], note_types: Mapping[str, NoteType], ids: Mapping[str, int]
) -> dict[str, str]:
    """What each note's rows depend on (its content, time, note type and id), by GUID,
    and what the collection row depends on (under ``_COL``)."""
    signatures = {name: _note_type_signature(nt) for name, nt in note_types.items()}
    digests = {}
    for note in notes:
        signature = signatures[note.kind]
        digests[note.guid] = f"{note.hash}:{note.changed}:{signature}:{ids[note.guid]}"
    # The collection row depends on which kinds are in which decks (a note type records
    # the last deck written with it) and on the note types.
    pairs = sorted({f"{n.deck}\x1e{n.kind}" for n in notes})
    kinds = sorted({n.kind for n in notes})
    col = "\x1f".join([*pairs, "", *(f"{k}:{signatures[k]}" for k in kinds)])
    digests[_COL] = hashlib.blake2b(col.encode(), digest_size=16).hexdigest()
    return digests


_COL = ""
"""The key, among the digests of notes (by GUID, never empty), of the collection row's."""


def _collection_file(
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    note_type_mods: Mapping[str, int],
    scratch: Path,
    cache: Path | None,
) -> tuple[Path, dict[str, str], int]:
    """The collection database file, built afresh or by patching the cached previous one,
    the digests of the notes it holds (for the cache) and its number of cards.

    Either way it ends with ``VACUUM INTO``, which writes a canonical file: the same
    notes give the same bytes whatever the history of the database they came from. With a
    cache, the file is written there (see :func:`_keep_collection`).
    """
    ids = note_ids(n.guid for n in notes)
    digests = _note_digests(notes, note_types, ids)
    work = scratch / "work.anki2"
    base = _cached_collection(cache) if cache is not None else None
    if cache is not None and base is not None:
        # Patched where it lies, no copy: its manifest goes first, so that an interrupted
        # build leaves no cache that claims to match the half-patched file.
        try:
            (cache / MANIFEST_NAME).unlink()
            work = cache / "collection.anki2"
        except OSError:
            base = None  # a cache that cannot be updated is not used
    connection = _connect(work)
    try:
        cursor = connection.cursor()
        if base is None:
            _write_notes(cursor, notes, note_types, ids)
        else:
            changed = [n for n in notes if base.get(n.guid) != digests[n.guid]]
            stale = [guid for guid in base if guid not in digests] + [n.guid for n in changed]
            _replace_notes(cursor, scratch, stale, changed, note_types, ids)
            if base.get(_COL) != digests[_COL]:
                _write_col(cursor, scratch, notes, note_types)
        _pin_model_times(cursor, note_types, note_type_mods)
        connection.commit()
        (cards,) = cursor.execute("SELECT count() FROM cards").fetchone()
        # VACUUM copies the schema cookie (+1), the one header field that remembers the
        # database's history; pin it so that patched and fresh databases match byte for byte.
        cursor.execute("PRAGMA schema_version = 100")
        final = _vacuum_target(cache, scratch)
        cursor.execute("VACUUM INTO ?", (str(final),))
    finally:
        connection.close()
    return final, digests, cards


def _vacuum_target(cache: Path | None, scratch: Path) -> Path:
    """An empty file for ``VACUUM INTO``: in the cache folder if it can be made there."""
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=".collection.", suffix=".tmp", dir=cache)
            os.close(handle)
            return Path(name)
    return scratch / "collection.anki2"


def _replace_notes(
    cursor: sqlite3.Cursor,
    scratch: Path,
    stale: Sequence[str],
    changed: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    ids: Mapping[str, int],
) -> None:
    """Delete the rows of notes that changed or left (found by GUID: their ids may have
    been assigned differently); insert the changed ones afresh."""
    cursor.execute("CREATE TEMP TABLE gone (guid TEXT PRIMARY KEY)")
    cursor.executemany("INSERT OR IGNORE INTO gone VALUES (?)", [(guid,) for guid in stale])
    cursor.execute("DELETE FROM cards WHERE nid IN (SELECT id FROM notes WHERE guid IN gone)")
    cursor.execute("DELETE FROM notes WHERE guid IN gone")
    cursor.execute("DROP TABLE gone")
    if not changed:
        return
    delta_path = scratch / "delta.anki2"
    delta = _connect(delta_path)
    try:
        _write_notes(delta.cursor(), changed, note_types, ids)
        delta.commit()
    finally:
        delta.close()
    cursor.execute("ATTACH DATABASE ? AS delta", (str(delta_path),))
    cursor.execute("INSERT INTO notes SELECT * FROM delta.notes")
    cursor.execute("INSERT INTO cards SELECT * FROM delta.cards")
    cursor.connection.commit()
    cursor.execute("DETACH DATABASE delta")


def _write_col(
    cursor: sqlite3.Cursor,
    scratch: Path,
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
) -> None:
    """Rewrite the collection row (decks and note types) exactly as a full write would."""
    models = {name: _model(nt) for name, nt in note_types.items()}
    col_path = scratch / "col.anki2"
    col = _connect(col_path)
    try:
        genanki.Package(_col_decks(notes, models)).write_to_db(col.cursor(), 0, iter(()))
        col.commit()
        row = col.execute("SELECT models, decks FROM col").fetchone()
    finally:
        col.close()
    cursor.execute("UPDATE col SET models = ?, decks = ?", row)


def _pin_model_times(
    cursor: sqlite3.Cursor, note_types: Mapping[str, NoteType], note_type_mods: Mapping[str, int]
) -> None:
    """Give each note type the time its templates or fields last changed."""
    (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
    models = json.loads(models_json)
    by_id = {str(nt.kind.model_id): name for name, nt in note_types.items()}
    for model_id, model in models.items():
        model["mod"] = note_type_mods.get(by_id.get(model_id, ""), 0)
    cursor.execute("UPDATE col SET models = ?", (json.dumps(models, sort_keys=True),))


_CACHE_FORMAT = 5
_CHUNK = 1 << 20
#: The cached collection's manifest: its format, code, checksum and note digests.
MANIFEST_NAME = "manifest"


def read_manifest(cache: Path) -> dict[str, object] | None:
    """The package cache's manifest, if present and intact (its own CRC-32 checks out)."""
    try:
        payload = unsealed((cache / MANIFEST_NAME).read_bytes())
        if payload is None:
            return None
        manifest = marshal.loads(payload)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def write_manifest(cache: Path, manifest: Mapping[str, object]) -> None:
    """Write the package cache's manifest (marshalled: a large one loads in milliseconds)."""
    payload = marshal.dumps(dict(manifest))
    with atomic_replace(cache / MANIFEST_NAME, durable=False) as out:
        out.write(sealed(payload))


def _cached_collection(cache: Path) -> dict[str, str] | None:
    """The digests of the notes in the cached previous database, if it is intact.

    None (build afresh) unless the manifest is of this format and code, and the
    database's size and CRC-32 match it.
    """
    manifest = read_manifest(cache)
    if manifest is None:
        return None
    if manifest.get("format") != _CACHE_FORMAT or manifest.get("code") != code_fingerprint():
        return None
    digests = manifest.get("notes")
    try:
        if isinstance(digests, dict) and _checksum(cache / "collection.anki2") == manifest.get(
            "checksum"
        ):
            return digests
    except OSError:
        pass
    return None


def _checksum(path: Path) -> str:
    crc, size = 0, 0
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return _checksum_text(crc, size)


def _checksum_text(crc: int, size: int) -> str:
    return f"crc32:{crc:08x}:{size}"


def _keep_collection(
    cache: Path, database: Path, digests: Mapping[str, str], crc: int, size: int
) -> None:
    """Make ``database`` (written in the cache folder) the cached collection.

    ``crc`` and ``size`` are the zip entry's, computed while packaging: no second read.
    """
    manifest = {
        "format": _CACHE_FORMAT,
        "code": code_fingerprint(),  # rows written by other code are not reused
        "checksum": _checksum_text(crc, size),
        "notes": dict(digests),
    }
    with contextlib.suppress(OSError):
        database.replace(cache / "collection.anki2")
        write_manifest(cache, manifest)


def write_apkg(
    path: Path,
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    media: Sequence[MediaFile] = (),
    note_type_mods: Mapping[str, int] | None = None,
    cache: Path | None = None,
) -> int:
    """Write ``notes`` as an Anki package at ``path``, atomically and reproducibly; return
    the number of cards in it.

    The same inputs give a byte-identical file: no wall-clock time is read, zip entries
    carry a fixed date, and rows are ordered and numbered from note identities.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ankigen-") as scratch:
        collection, digests, cards = _collection_file(
            notes, note_types, note_type_mods or {}, Path(scratch), cache
        )
        try:
            entry = _write_zip(path, collection, media)
            if cache is not None and collection.parent == cache:
                _keep_collection(cache, collection, digests, entry.crc, entry.size)
        finally:
            collection.unlink(missing_ok=True)  # unless kept
    assert isinstance(cards, int)
    return cards


def _write_zip(path: Path, collection: Path, media: Sequence[MediaFile]) -> Entry:
    """Write the package; return the collection's zip entry (with its size and CRC-32)."""
    ordered_media = sorted(media, key=lambda m: m.name)
    with atomic_replace(path) as raw:
        archive = ZipWriter(raw, _ZIP_LEVEL, default_threads())
        with collection.open("rb") as source:
            # Streamed, never held in memory whole: at 100,000 notes it is ~100 MB.
            entry = archive.add_file("collection.anki2", source)
        index = {str(i): m.name for i, m in enumerate(ordered_media)}
        archive.add_bytes("media", json.dumps(index, sort_keys=True).encode())
        for i, item in enumerate(ordered_media):
            archive.add_bytes(str(i), item.data)
        archive.finish()
    return entry
