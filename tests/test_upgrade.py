"""Living with the deck: re-imports keep progress and edits; retired and renamed notes; the lock."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from anki.collection import Collection

from ankigen.package import guid_for_key
from ankigen.build import BuildOptions, BuildResult, build, check, deck_path
from ankigen.config import RETIRED_TAG

from .conftest import import_package

V1, V2 = 1_700_000_000, 1_700_000_500


def _build(src: Path, out: Path, now: int, **kwargs: object) -> BuildResult:
    result = build(BuildOptions(source_dir=src, build_dir=out, now=now, **kwargs))  # type: ignore[arg-type]
    assert result.ok, [d.format() for d in result.diagnostics] + list(result.errors)
    return result


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _note_id(col: Collection, key: str) -> int:
    (note_id,) = col.db.list("select id from notes where guid = ?", guid_for_key(key))
    return int(note_id)


def _review_everything(col: Collection) -> int:
    for card_id in col.find_cards(""):
        card = col.get_card(card_id)
        card.start_timer()
        col.sched.answerCard(card, 3)
    return len(col.find_cards(""))


def _rows(package: Path) -> dict[str, tuple[object, ...]]:
    """Note rows of a package by GUID, read straight from its SQLite database."""
    with zipfile.ZipFile(package) as archive:
        data = archive.read("collection.anki2")
    db = package.with_suffix(".sqlite")
    db.write_bytes(data)
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("select guid, id, mid, mod, tags, flds from notes").fetchall()
    finally:
        connection.close()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_reimport_updates_only_changed_notes_and_keeps_edits_and_reviews(
    valid_sources: Path, tmp_path: Path, collection: Collection
) -> None:
    _build(valid_sources, tmp_path / "v1", V1)
    import_package(collection, deck_path(tmp_path / "v1"))
    reviewed = _review_everything(collection)
    ids_before = {nid: collection.get_note(nid).guid for nid in collection.find_notes("")}
    schedule_before = {
        cid: (collection.get_card(cid).ivl, collection.get_card(cid).due)
        for cid in collection.find_cards("")
    }

    # The learner adds a mnemonic to one note.
    polly = collection.get_note(_note_id(collection, "service/amazon-polly"))
    polly["Does"] += " <i>Mnemonic: Polly the parrot talks.</i>"
    collection.update_note(polly)

    # The maintainers change two other notes.
    _edit(valid_sources / "metrics.md", "The harmonic mean", "The harmonic (not arithmetic) mean")
    _edit(
        valid_sources / "topic" / "other.md", "NVIDIA V100 GPUs.", "NVIDIA V100 GPUs, 8 per node."
    )
    _build(valid_sources, tmp_path / "v2", V2)
    response = import_package(collection, deck_path(tmp_path / "v2"))

    log = response.log  # type: ignore[attr-defined]
    updated = {entry.fields[0] for entry in log.updated}
    assert updated == {"F1 score", "P3"}
    assert (len(log.new), len(log.conflicting)) == (0, 0)
    # Anki lists the notes it matched and left alone as "duplicate": all the others.
    assert len(log.duplicate) == len(ids_before) - 2
    assert collection.note_count() == len(ids_before)
    assert {nid: collection.get_note(nid).guid for nid in collection.find_notes("")} == ids_before
    f1 = collection.get_note(_note_id(collection, "metric/f1-score"))
    assert f1["Measures"].startswith("The harmonic (not arithmetic) mean")
    p3 = collection.get_note(_note_id(collection, "instance/p3"))
    assert p3["Hardware"] == "NVIDIA V100 GPUs, 8 per node."
    assert "Polly the parrot" in collection.get_note(polly.id)["Does"]
    assert collection.db.scalar("select count() from revlog") == reviewed
    assert {
        cid: (collection.get_card(cid).ivl, collection.get_card(cid).due)
        for cid in collection.find_cards("")
    } == schedule_before


def test_same_sources_give_byte_identical_packages(valid_sources: Path, tmp_path: Path) -> None:
    _build(valid_sources, tmp_path / "a", V1)
    _build(valid_sources, tmp_path / "b", V2)  # later clock, same content: same bytes
    assert deck_path(tmp_path / "a").read_bytes() == deck_path(tmp_path / "b").read_bytes()
    with zipfile.ZipFile(deck_path(tmp_path / "a")) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_DEFLATED


def test_build_after_edit_differs_only_in_edited_note(valid_sources: Path, tmp_path: Path) -> None:
    _build(valid_sources, tmp_path / "a", V1)
    _edit(valid_sources / "topic" / "other.md", "Turns text into speech.", "Speaks text aloud.")
    _build(valid_sources, tmp_path / "b", V2)
    before, after = _rows(deck_path(tmp_path / "a")), _rows(deck_path(tmp_path / "b"))
    assert before.keys() == after.keys()
    differing = {guid for guid in before if before[guid] != after[guid]}
    assert differing == {guid_for_key("service/amazon-polly")}
    assert after[guid_for_key("service/amazon-polly")][2] == V2  # mod: when it changed


def test_removed_note_ships_retired_with_history(
    valid_sources: Path, tmp_path: Path, collection: Collection
) -> None:
    _build(valid_sources, tmp_path / "v1", V1)
    import_package(collection, deck_path(tmp_path / "v1"))
    _review_everything(collection)
    note_id = _note_id(collection, "concept/overfitting")
    card_ids = [c.id for c in collection.get_note(note_id).cards()]
    reviews = collection.db.scalar(f"select count() from revlog where cid in {tuple(card_ids)}")

    other = valid_sources / "topic" / "other.md"
    text = other.read_text(encoding="utf-8")
    start, end = text.index("## concept/overfitting"), text.index("## qa/retired-exam")
    other.write_text(text[:start] + text[end:], encoding="utf-8")
    result = _build(valid_sources, tmp_path / "v2", V2)
    assert result.lock is not None and result.lock.retired == ("concept/overfitting",)
    assert "concept/overfitting" not in {n.key for n in result.corpus.notes}

    import_package(collection, deck_path(tmp_path / "v2"))
    note = collection.get_note(note_id)
    assert RETIRED_TAG in note.tags
    assert note["Term"] == "Overfitting"
    assert collection.find_notes(f"tag:{RETIRED_TAG}") == [note_id]
    assert [c.id for c in note.cards()] == card_ids
    assert (
        collection.db.scalar(f"select count() from revlog where cid in {tuple(card_ids)}")
        == reviews
    )

    # It stays retired in later builds, unchanged.
    again = _build(valid_sources, tmp_path / "v3", V2 + 100)
    assert again.lock is not None and not again.lock.stale


def test_renamed_key_keeps_guid_and_history(
    valid_sources: Path, tmp_path: Path, collection: Collection
) -> None:
    _build(valid_sources, tmp_path / "v1", V1)
    import_package(collection, deck_path(tmp_path / "v1"))
    reviewed = _review_everything(collection)
    note_id = _note_id(collection, "service/amazon-polly")

    _edit(
        valid_sources / "topic" / "other.md",
        "## service/amazon-polly\n",
        "## service/polly\n\n- **Renamed from:** service/amazon-polly",
    )
    result = _build(valid_sources, tmp_path / "v2", V2)
    assert result.lock is not None
    assert result.lock.renamed == (("service/amazon-polly", "service/polly"),)
    assert result.lock.lock.notes["service/polly"].guid == guid_for_key("service/amazon-polly")
    assert "service/amazon-polly" not in result.lock.lock.notes

    response = import_package(collection, deck_path(tmp_path / "v2"))
    assert len(response.log.new) == 0  # type: ignore[attr-defined]
    assert collection.db.list(
        "select id from notes where guid = ?", guid_for_key("service/amazon-polly")
    ) == [note_id]
    assert collection.db.scalar("select count() from revlog") == reviewed

    # Once the lock knows the rename, the declaration may stay or go: the GUID is kept.
    _edit(valid_sources / "topic" / "other.md", "\n- **Renamed from:** service/amazon-polly", "")
    third = _build(valid_sources, tmp_path / "v3", V2 + 100)
    assert third.lock is not None and not third.lock.stale


def test_rename_from_a_live_key_is_refused(valid_sources: Path, tmp_path: Path) -> None:
    _edit(
        valid_sources / "topic" / "other.md",
        "- **Term:** Overfitting",
        "- **Term:** Overfitting\n- **Renamed from:** instance/p3",
    )
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=V2))
    assert [d.code for d in result.diagnostics] == ["bad-rename"]
    assert not deck_path(tmp_path).exists()


def test_check_fails_when_lock_is_stale(valid_sources: Path) -> None:
    assert check(BuildOptions(source_dir=valid_sources, now=V2)).ok
    _edit(valid_sources / "metrics.md", "The share of actual positives found.", "Positives found.")
    result = check(BuildOptions(source_dir=valid_sources, now=V2))
    assert [(d.code, d.location.line, d.location.column) for d in result.diagnostics] == [
        ("stale-lock", 20, 4)
    ]
    assert "changed since the lock" in result.diagnostics[0].message
    (valid_sources / "ankigen.lock").unlink()
    missing = check(BuildOptions(source_dir=valid_sources, now=V2))
    assert [d.code for d in missing.diagnostics] == ["stale-lock"]


def _edit_lock(src: Path, kind: str, **changes: object) -> None:
    path = src / "ankigen.lock"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["note_types"][kind].update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    "changes",
    [{"model_id": 1_234_567}, {"fields": ["Name", "Formula", "Measures", "Range", "When"]}],
    ids=["model-id", "field-renamed"],
)
def test_breaking_note_type_change_is_refused(
    valid_sources: Path, tmp_path: Path, changes: dict[str, object]
) -> None:
    deck = deck_path(tmp_path)
    _edit_lock(valid_sources, "metric", **changes)
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=V2))
    assert [d.code for d in result.diagnostics] == ["note-type-changed"]
    assert not deck.exists()


def test_appended_field_is_allowed_and_explained(valid_sources: Path, tmp_path: Path) -> None:
    _edit_lock(valid_sources, "metric", fields=["Name", "Formula", "Measures", "Range"])
    result = _build(valid_sources, tmp_path, V2)
    assert result.lock is not None
    assert any("Merge note types" in change for change in result.lock.note_type_changes)


def test_corrupt_lock_is_a_located_error(valid_sources: Path, tmp_path: Path) -> None:
    lock = valid_sources / "ankigen.lock"
    lock.write_text('{\n"version": 1,\n"notes": {oops}\n}\n', encoding="utf-8")
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=V2))
    assert [(d.code, d.location.line) for d in result.diagnostics] == [("bad-lock", 3)]
    assert lock.read_text(encoding="utf-8").startswith('{\n"version": 1')
