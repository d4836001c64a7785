"""Rendered notes -> ``.apkg``. The only module that imports genanki.

Identity lives here: note GUIDs come from the note key (never from its text), deck ids from
the deck name, model ids from ``cards.KINDS``. genanki fills the collection database; this
module writes the zip itself so that the package is compressed, reproducible and replaced
atomically: a failed write leaves the previous deck untouched and no temporary file behind.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import genanki

from ankigen.cards import Note
from ankigen.render import NoteType

#: Zip entry date for every file in the package, so that builds are reproducible.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file shipped in the package's media folder."""

    name: str
    """File name in the package (content-hashed, so names never collide)."""
    data: bytes
    """File content."""


def guid_for_key(key: str) -> str:
    """The note GUID: a function of the stable key alone."""
    return str(genanki.guid_for("ankigen", key))


def deck_id(name: str) -> int:
    """A stable deck id from the full deck name."""
    digest = hashlib.sha256(f"ankigen-deck:{name}".encode()).digest()
    return (1 << 40) | int.from_bytes(digest[:5], "big")


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
    notes: Sequence[Note],
    note_types: Mapping[str, NoteType],
    mod_times: Mapping[str, int],
    timestamp: int,
    scratch: Path,
) -> bytes:
    models = {name: _model(nt) for name, nt in note_types.items()}
    decks: dict[str, genanki.Deck] = {}
    for note in sorted(notes, key=lambda n: (n.deck, n.key)):
        deck = decks.get(note.deck)
        if deck is None:
            deck = decks[note.deck] = genanki.Deck(deck_id(note.deck), note.deck)
        deck.add_note(
            genanki.Note(
                model=models[note.kind.name],
                fields=list(note.field_values()),
                guid=guid_for_key(note.key),
                tags=list(note.tags),
            )
        )
    db_path = scratch / "collection.anki2"
    connection = sqlite3.connect(db_path)
    try:
        cursor = connection.cursor()
        package = genanki.Package([decks[name] for name in sorted(decks)])
        package.write_to_db(cursor, timestamp, itertools.count(timestamp * 1000))
        # genanki stamps one time on every note; each note's own time decides whether
        # Anki's "update if newer" import touches it.
        cursor.executemany(
            "UPDATE notes SET mod = ? WHERE guid = ?",
            [(mod_times[n.key], guid_for_key(n.key)) for n in notes if n.key in mod_times],
        )
        connection.commit()
    finally:
        connection.close()
    return db_path.read_bytes()


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_apkg(
    path: Path,
    notes: Sequence[Note],
    note_types: Mapping[str, NoteType],
    media: Sequence[MediaFile] = (),
    mod_times: Mapping[str, int] | None = None,
    timestamp: int | None = None,
) -> None:
    """Write ``notes`` as an Anki package at ``path``, atomically.

    ``timestamp`` (seconds) seeds note and card ids and the note type times; ``mod_times``
    gives each note key its own modification time.
    """
    if timestamp is None:
        timestamp = int(time.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ankigen-") as scratch:
        collection = _collection_bytes(notes, note_types, mod_times or {}, timestamp, Path(scratch))
        ordered_media = sorted(media, key=lambda m: m.name)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
                archive.writestr(_zip_entry("collection.anki2"), collection)
                index = {str(i): m.name for i, m in enumerate(ordered_media)}
                archive.writestr(_zip_entry("media"), json.dumps(index, sort_keys=True))
                for i, item in enumerate(ordered_media):
                    archive.writestr(_zip_entry(str(i)), item.data)
                archive.close()
                raw.flush()
                os.fsync(raw.fileno())
            tmp.chmod(0o644)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
