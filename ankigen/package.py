"""Rendered notes -> ``.apkg``. The only module that imports genanki.

Identity lives here: note GUIDs come from the note key (never from its text), deck ids from
the deck name, model ids from ``cards.KINDS``. genanki writes the collection database;
then each note and its cards get the time the note's content last changed (Anki's default
import updates a note only when the incoming one is newer, which is how learners keep
their own edits), and ``zipfile`` writes the package with fixed dates, so the same notes
give the same bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import genanki

from ankigen.media import Shipped
from ankigen.render import NoteType

#: Note and card ids count up from here (2023-11-14 in Anki's millisecond ids). Anki matches
#: notes by GUID on import, so ids only need to be unique within the package and stable.
_FIRST_ID = 1_700_000_000_000
#: Zip entries carry this date, not the time of the build.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class PackagedNote:
    """A note exactly as it goes into the package."""

    key: str
    """The note's key (orders notes in the package)."""
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
    changed: int
    """When the note's content last changed (Unix seconds): the ``mod`` of its rows."""


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


def _collection(
    database: Path,
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    note_type_times: Mapping[str, int],
) -> int:
    """Write the collection database; return its number of cards."""
    models = {name: _model(note_type) for name, note_type in note_types.items()}
    decks: dict[str, genanki.Deck] = {}
    for note in sorted(notes, key=lambda n: (n.deck, n.key)):
        deck = decks.get(note.deck)
        if deck is None:
            deck = decks[note.deck] = genanki.Deck(deck_id(note.deck), note.deck)
        deck.add_note(
            genanki.Note(
                model=models[note.kind],
                fields=list(note.fields),
                guid=note.guid,
                tags=list(note.tags),
            )
        )
    connection = sqlite3.connect(database)
    try:
        cursor = connection.cursor()
        with warnings.catch_warnings():
            # genanki warns about HTML it does not know; field HTML is ankigen's own.
            warnings.filterwarnings("ignore", module="genanki")
            package = genanki.Package([decks[name] for name in sorted(decks)])
            package.write_to_db(cursor, 0, itertools.count(_FIRST_ID))
        # Each note's change time, joined on its GUID (one pass, not one search per note).
        cursor.execute("CREATE TEMP TABLE changed (guid TEXT PRIMARY KEY, mod INTEGER)")
        cursor.executemany(
            "INSERT INTO changed VALUES (?, ?)", [(n.guid, n.changed) for n in notes]
        )
        cursor.execute(
            "UPDATE notes SET mod = (SELECT mod FROM changed WHERE changed.guid = notes.guid)"
        )
        cursor.execute("DROP TABLE changed")
        cursor.execute("UPDATE cards SET mod = (SELECT mod FROM notes WHERE notes.id = cards.nid)")
        (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
        by_id = {str(nt.kind.model_id): name for name, nt in note_types.items()}
        stored = json.loads(models_json)
        for model_id, model in stored.items():
            model["mod"] = note_type_times.get(by_id.get(model_id, ""), 0)
        cursor.execute("UPDATE col SET models = ?", (json.dumps(stored, sort_keys=True),))
        connection.commit()
        (cards,) = cursor.execute("SELECT count() FROM cards").fetchone()
    finally:
        connection.close()
    assert isinstance(cards, int)
    return cards


def write_package(
    out: BinaryIO,
    notes: Sequence[PackagedNote],
    note_types: Mapping[str, NoteType],
    media: Sequence[Shipped],
    note_type_times: Mapping[str, int],
    scratch: Path,
) -> int:
    """Write ``notes`` as an Anki package to ``out``, reproducibly; return the number of
    cards in it. ``scratch`` is an empty folder for the collection database."""
    database = scratch / "collection.anki2"
    database.unlink(missing_ok=True)
    cards = _collection(database, notes, note_types, note_type_times)
    ordered = sorted(media, key=lambda m: m.name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:

        def entry(name: str) -> zipfile.ZipInfo:
            info = zipfile.ZipInfo(name, _ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            return info

        with database.open("rb") as source, archive.open(entry("collection.anki2"), "w") as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
        index = {str(i): m.name for i, m in enumerate(ordered)}
        archive.writestr(entry("media"), json.dumps(index, sort_keys=True))
        for i, item in enumerate(ordered):
            archive.writestr(entry(str(i)), item.data)
    return cards
