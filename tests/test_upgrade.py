"""Living with the deck: re-imports keep progress and edits; retired and renamed notes;
the change record."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from anki.collection import Collection

from ankigen.build import BuildOptions, BuildResult, build, check, deck_path, record
from ankigen.config import RETIRED_TAG
from ankigen.package import guid_for_key

from .conftest import import_package, note_rows

V1, V2 = 1_700_000_000, 1_700_000_500


def _build(src: Path, out: Path, now: int, **kwargs: object) -> BuildResult:
    result = build(BuildOptions(source_dir=src, build_dir=out, now=now, **kwargs))  # type: ignore[arg-type]
    assert result.ok, [d.format() for d in result.diagnostics]
    return result


def _record(src: Path, now: int) -> None:
    """What CI does on main after a merge: write the change record."""
    done = record(BuildOptions(source_dir=src, build_dir=src.parent / "record-build", now=now))
    assert done.result.ok and done.written, [d.format() for d in done.result.diagnostics]


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
    before, after = note_rows(deck_path(tmp_path / "a")), note_rows(deck_path(tmp_path / "b"))
    assert before.keys() == after.keys()
    differing = {guid for guid in before if before[guid] != after[guid]}
    assert differing == {guid_for_key("service/amazon-polly")}
    assert after[guid_for_key("service/amazon-polly")][2] == V2  # mod: when it changed


def test_retired_note_ships_tagged_with_its_history(
    valid_sources: Path, tmp_path: Path, collection: Collection
) -> None:
    _build(valid_sources, tmp_path / "v1", V1)
    import_package(collection, deck_path(tmp_path / "v1"))
    _review_everything(collection)
    note_id = _note_id(collection, "concept/overfitting")
    card_ids = [c.id for c in collection.get_note(note_id).cards()]
    reviews = collection.db.scalar(f"select count() from revlog where cid in {tuple(card_ids)}")

    _edit(
        valid_sources / "topic" / "other.md",
        "- **Term:** Overfitting\n",
        "- **Term:** Overfitting\n- **Retired:** merged into the bias-variance notes\n",
    )
    result = _build(valid_sources, tmp_path / "v2", V2)
    (retired,) = [n for n in result.corpus.notes if n.key == "concept/overfitting"]
    assert RETIRED_TAG in retired.tags

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


def test_deleting_a_recorded_note_is_refused_where_the_record_names_it(
    valid_sources: Path, tmp_path: Path
) -> None:
    other = valid_sources / "topic" / "other.md"
    text = other.read_text(encoding="utf-8")
    start, end = text.index("## concept/overfitting"), text.index("## qa/retired-exam")
    other.write_text(text[:start] + text[end:], encoding="utf-8")
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=V2))
    (problem,) = result.diagnostics
    line = (
        (valid_sources / "ankigen.lock")
        .read_text()
        .split("\n")
        .index(
            next(
                row
                for row in (valid_sources / "ankigen.lock").read_text().split("\n")
                if row.startswith("note concept/overfitting ")
            )
        )
    )
    assert (problem.code, problem.location.line) == ("removed-note", line + 1)
    assert "Retired:" in problem.message
    assert not deck_path(tmp_path).exists()


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
    assert result.settlement is not None
    assert result.settlement.guids["service/polly"] == guid_for_key("service/amazon-polly")
    # A pure rename is no change of content: the note keeps its time, and learners' copy.
    assert (
        result.settlement.changed("service/polly")
        == result.settlement.record.notes["service/polly"].changed
    )
    assert "service/polly" not in result.settlement.derived

    response = import_package(collection, deck_path(tmp_path / "v2"))
    assert len(response.log.new) == 0  # type: ignore[attr-defined]
    assert collection.db.list(
        "select id from notes where guid = ?", guid_for_key("service/amazon-polly")
    ) == [note_id]
    assert collection.db.scalar("select count() from revlog") == reviewed

    # Once the record knows the rename, the declaration may stay or go: the GUID is kept.
    _record(valid_sources, V2)
    assert "service/amazon-polly" not in (valid_sources / "ankigen.lock").read_text()
    _edit(valid_sources / "topic" / "other.md", "\n- **Renamed from:** service/amazon-polly", "")
    third = _build(valid_sources, tmp_path / "v3", V2 + 100)
    assert third.settlement is not None
    assert third.settlement.guids["service/polly"] == guid_for_key("service/amazon-polly")


def test_rename_from_a_live_key_is_refused(valid_sources: Path, tmp_path: Path) -> None:
    _edit(
        valid_sources / "topic" / "other.md",
        "- **Term:** Overfitting",
        "- **Term:** Overfitting\n- **Renamed from:** concept/underfitting",
    )
    _edit(valid_sources / "topic" / "other.md", "## concept/overfitting", "## concept/overfit")
    (valid_sources / "extra.md").write_text(
        "---\ntags: [exam::MLA-C01::D2-Model-Development::2.3]\n---\n\n"
        "## concept/underfitting\n\n- **Term:** Underfitting\n- **Explanation:** Too simple.\n"
    )
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=V2))
    assert "bad-rename" in [d.code for d in result.diagnostics]
    assert not deck_path(tmp_path).exists()


def test_rename_across_kinds_is_refused_with_what_to_do(valid_sources: Path) -> None:
    _edit(
        valid_sources / "topic" / "other.md",
        "## qa/retired-exam\n",
        "## concept/retired-exam\n\n- **Renamed from:** qa/retired-exam",
    )
    _edit(valid_sources / "topic" / "other.md", "- **Question:**", "- **Term:**")
    _edit(valid_sources / "topic" / "other.md", "- **Answer:**", "- **Explanation:**")
    result = check(BuildOptions(source_dir=valid_sources, now=V2))
    codes = [(d.code, d.location.path.endswith("other.md")) for d in result.diagnostics]
    assert ("bad-rename", True) in codes
    message = next(d.message for d in result.diagnostics if d.code == "bad-rename")
    assert "Retired:" in message and "cannot be renamed" in message


def test_edited_notes_pass_check_and_record_says_what_changed(valid_sources: Path) -> None:
    """A pull request never touches the record: check passes; CI's record run catches up."""
    options = BuildOptions(source_dir=valid_sources, build_dir=valid_sources.parent / "b", now=V2)
    assert check(options).ok
    assert not record(options, write=False).changed
    _edit(valid_sources / "metrics.md", "The share of actual positives found.", "Positives found.")
    result = check(options)
    assert result.ok
    assert result.settlement is not None and result.settlement.derived == ("metric/recall",)
    assert record(options, write=False).changed
    _record(valid_sources, V2)
    assert not record(options, write=False).changed


def _edit_type(src: Path, kind: str, column: int, value: str) -> None:
    path = src / "ankigen.lock"
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"type {kind} "):
            words = line.split(" ", 5)
            words[column] = value
            lines[i] = " ".join(words)
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    ("column", "value"),
    [(2, "1234567"), (5, "Name|Formula|Measures|Range|When")],
    ids=["model-id", "field-renamed"],
)
def test_breaking_note_type_change_is_refused(
    valid_sources: Path, tmp_path: Path, column: int, value: str
) -> None:
    _edit_type(valid_sources, "metric", column, value)
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=V2))
    assert [d.code for d in result.diagnostics] == ["note-type-changed"]
    assert not deck_path(tmp_path).exists()


def test_appended_field_is_allowed(valid_sources: Path, tmp_path: Path) -> None:
    _edit_type(valid_sources, "metric", 5, "Name|Formula|Measures|Range")
    result = _build(valid_sources, tmp_path, V2)
    assert result.settlement is not None
    assert result.settlement.type_times["metric"] == V2  # a newer note type: Anki updates it


@pytest.mark.parametrize(
    "damage",
    ["{oops", "note metric/f1-score yesterday 0123", "note Bad Key 2026-01-01T00:00:00Z x",
     "type metric", "\x00\x01", "[" * 100_000, "note " + "a/" * 5000,
     f"note metric/recall 2024-13-45T99:99:99Z {'a' * 20}",
     f"note metric/recall 0000-01-01T00:00:00Z {'a' * 20}",
     f"note metric/recall 2023-11-14T22:\u0663\u0663:20Z {'a' * 20}",
     f"note metric/recall 9999-12-31T23:59:59Z {'a' * 20}",
     f"type metric \u00b2 2023-11-14T22:13:20Z {'a' * 20} Name|Formula"],
    ids=["json", "bad-time", "bad-key", "short-type", "binary", "deep", "long", "month-13",
         "year-0", "arabic-digits", "future", "superscript-id"],
)  # fmt: skip
def test_damaged_record_is_a_located_error(
    valid_sources: Path, tmp_path: Path, damage: str
) -> None:
    lock = valid_sources / "ankigen.lock"
    text = lock.read_text(encoding="utf-8")
    lock.write_text(text + damage + "\n", encoding="utf-8")
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=V2))
    last = len(text.split("\n"))
    assert [(d.code, d.location.line) for d in result.diagnostics] == [("bad-lock", last)]
    assert lock.read_text(encoding="utf-8") == text + damage + "\n"
    assert not deck_path(tmp_path).exists()


def test_record_lines_merged_twice_count_once_at_the_latest_time(valid_sources: Path) -> None:
    lock = valid_sources / "ankigen.lock"
    lines = lock.read_text(encoding="utf-8").split("\n")
    row = next(line for line in lines if line.startswith("note metric/recall "))
    later = row.replace(row.split()[2], "2024-01-01T00:00:00Z")
    lock.write_text("\n".join([*lines, later, row]), encoding="utf-8")
    result = check(BuildOptions(source_dir=valid_sources, now=V2))
    assert result.ok and result.settlement is not None
    assert result.settlement.changed("metric/recall") == 1_704_067_200
