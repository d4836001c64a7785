"""Rendered notes -> ``.apkg``. The only module that imports genanki.

Identity lives here: note GUIDs come from the note key (never from its text), deck ids from
the deck name, model ids from ``cards.KINDS``. genanki fills the collection database; this
module writes the zip itself so that the package is compressed, reproducible and replaced
atomically: a failed write leaves the previous deck untouched and no temporary file behind.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import genanki

from ankigen.fileio import atomic_replace
from ankigen.render import NoteType

#: Zip entry date for every file in the package, so that builds are reproducible.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
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


@dataclass(frozen=True, slots=True)
class PackagedNote:
    """A note exactly as it goes into the package."""

    guid: str
    """Identity in learners' collections."""
    kind: str
    """Kind name; selects the note type."""
    deck: str
    """Full deck name."""
    tags: tuple[str, ...]
    """Tags."""
    fields: tuple[str, ...]
    """Field HTML in Anki order."""
    mod: int
    """Modification time (seconds): when the note's content last changed."""


def guid_for_key(key: str) -> str:
    """The note GUID: a function of the stable key alone."""
    return str(genanki.guid_for("ankigen", key))


def deck_id(name: str) -> int:
    """A stable deck id from the full deck name."""
    digest = hashlib.sha256(f"ankigen-deck:{name}".encode()).digest()
    return (1 << 40) | int.from_bytes(digest[:5], "big")


def _row_id(text: str) -> int:
    """A stable note or card id, so that unchanged notes give unchanged rows."""
    digest = hashlib.sha256(f"ankigen-id:{text}".encode()).digest()
    return (1 << 50) | int.from_bytes(digest[:5], "big")


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


def _collection_bytes(
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    note_type_mods: Mapping[str, int],
    scratch: Path,
) -> bytes:
    models = {name: _model(nt) for name, nt in note_types.items()}
    decks: dict[str, genanki.Deck] = {}
    ids: list[int] = []
    for note in sorted(notes, key=lambda n: (n.deck, n.guid)):
        deck = decks.get(note.deck)
        if deck is None:
            deck = decks[note.deck] = genanki.Deck(deck_id(note.deck), note.deck)
        width = len(note_types[note.kind].kind.fields)
        packaged = genanki.Note(
            model=models[note.kind],
            fields=[*note.fields, *[""] * (width - len(note.fields))][:width],
            guid=note.guid,
            tags=list(note.tags),
        )
        deck.add_note(packaged)
    # genanki numbers notes and cards from one counter in the order it writes them
    # (deck by deck, each note then its cards); hand it ids derived from the GUIDs instead,
    # so that unchanged notes give unchanged rows whatever else changes.
    ordered = [decks[name] for name in sorted(decks)]
    for deck in ordered:
        for packaged in deck.notes:
            ids.append(_row_id(packaged.guid))
            ids.extend(_row_id(f"{packaged.guid}#{card.ord}") for card in packaged.cards)
    assert len(set(ids)) == len(ids), "note or card id collision"
    db_path = scratch / "collection.anki2"
    connection = sqlite3.connect(db_path)
    try:
        cursor = connection.cursor()
        # A scratch file that is read back at once: no journal, no syncing.
        cursor.execute("PRAGMA journal_mode = OFF")
        cursor.execute("PRAGMA synchronous = OFF")
        package = genanki.Package(ordered)
        # The timestamp genanki stamps everywhere is replaced below by each note's own time.
        package.write_to_db(cursor, 0, iter(ids))
        _pin_times(cursor, notes, note_types, note_type_mods)
        connection.commit()
    finally:
        connection.close()
    return db_path.read_bytes()


def _pin_times(
    cursor: sqlite3.Cursor,
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    note_type_mods: Mapping[str, int],
) -> None:
    """Give each note (and its cards) the time its content last changed.

    Anki's default import updates a note only if the incoming modification time is newer,
    so each note carries the time its content last changed (from the lock), not the build
    time; note types likewise.
    """
    cursor.execute("CREATE TEMP TABLE note_mod (id INTEGER PRIMARY KEY, mod INTEGER)")
    cursor.executemany(
        "INSERT INTO note_mod VALUES (?, ?)", [(_row_id(n.guid), n.mod) for n in notes]
    )
    cursor.execute("UPDATE notes SET mod = (SELECT mod FROM note_mod WHERE note_mod.id = notes.id)")
    cursor.execute(
        "UPDATE cards SET mod = (SELECT mod FROM note_mod WHERE note_mod.id = cards.nid)"
    )
    cursor.execute("DROP TABLE note_mod")
    (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
    models = json.loads(models_json)
    by_id = {str(nt.kind.model_id): name for name, nt in note_types.items()}
    for model_id, model in models.items():
        model["mod"] = note_type_mods.get(by_id.get(model_id, ""), 0)
    cursor.execute("UPDATE col SET models = ?", (json.dumps(models, sort_keys=True),))


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_apkg(
    path: Path,
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    media: Sequence[MediaFile] = (),
    note_type_mods: Mapping[str, int] | None = None,
) -> None:
    """Write ``notes`` as an Anki package at ``path``, atomically and reproducibly.

    The same inputs give a byte-identical file: no wall-clock time is read, zip entries
    carry a fixed date, and rows are ordered and numbered from note identities.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ankigen-") as scratch:
        collection = _collection_bytes(notes, note_types, note_type_mods or {}, Path(scratch))
        ordered_media = sorted(media, key=lambda m: m.name)
        with (
            atomic_replace(path) as raw,
            zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL) as archive,
        ):
            archive.writestr(_zip_entry("collection.anki2"), collection)
            index = {str(i): m.name for i, m in enumerate(ordered_media)}
            archive.writestr(_zip_entry("media"), json.dumps(index, sort_keys=True))
            for i, item in enumerate(ordered_media):
                archive.writestr(_zip_entry(str(i)), item.data)
