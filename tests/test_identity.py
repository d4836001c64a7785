"""Identity: model ids, deck ids and note GUIDs are frozen, and GUIDs come from keys only."""

from __future__ import annotations

from pathlib import Path

from anki.collection import Collection

from ankigen.build import BuildOptions, build, deck_path
from ankigen.cards import KINDS
from ankigen.config import ROOT_DECK
from ankigen.package import deck_id, guid_for_key

from .conftest import import_package

# Changing any of these breaks every learner's collection: new note types, duplicated notes.
PINNED_MODEL_IDS = {
    "metric": 1_711_240_001,
    "algorithm": 1_711_240_002,
    "hyperparameter": 1_711_240_003,
    "instance": 1_711_240_004,
    "service": 1_711_240_005,
    "concept": 1_711_240_006,
    "qa": 1_711_240_007,
}
PINNED_FIELDS = {
    "metric": ["Name", "Formula", "Measures", "Range", "Use when"],
    "algorithm": [
        "Name", "Purpose", "Learning type", "Training input", "Data layout", "Input mode",
        "Channels", "Inference", "Training instances", "Inference instances",
        "Hyperparameters", "Best practices",
    ],
    "hyperparameter": ["Name", "Controls", "Values", "Tuning"],
    "instance": ["Family", "Hardware", "Use for", "Status"],
    "service": ["Name", "Does", "Inputs and outputs", "Use for", "Not to confuse with", "Status"],
    "concept": ["Term", "Explanation", "Example", "Contrast", "Contrast with"],
    "qa": ["Question", "Answer"],
}  # fmt: skip


def test_model_ids_are_pinned() -> None:
    assert {name: kind.model_id for name, kind in KINDS.items()} == PINNED_MODEL_IDS


def test_field_names_are_pinned() -> None:
    assert {name: [f.label for f in kind.fields] for name, kind in KINDS.items()} == PINNED_FIELDS


def test_deck_ids_and_guids_are_pinned() -> None:
    assert deck_id(ROOT_DECK) == 1_104_652_802_336
    assert deck_id(f"{ROOT_DECK}::Metrics") == 1_435_237_397_759
    assert guid_for_key("metric/f1-score") == "H}B^YDE.(a"


def _guids(col: Collection) -> dict[str, int]:
    return {col.get_note(nid).guid: nid for nid in col.find_notes("")}


def test_editing_text_keeps_guid_and_note(valid_sources: Path, tmp_path: Path) -> None:
    out1, out2 = tmp_path / "v1", tmp_path / "v2"
    assert build(BuildOptions(source_dir=valid_sources, build_dir=out1)).ok
    metrics = valid_sources / "metrics.md"
    text = metrics.read_text(encoding="utf-8")
    edited = text.replace("F1 score", "F1 score (F-measure)").replace(
        "The harmonic mean", "The harmonic (not arithmetic) mean"
    )
    assert edited != text
    metrics.write_text(edited, encoding="utf-8")
    assert build(BuildOptions(source_dir=valid_sources, build_dir=out2)).ok

    first = Collection(str(tmp_path / "a.anki2"))
    second = Collection(str(tmp_path / "b.anki2"))
    try:
        import_package(first, deck_path(out1))
        import_package(second, deck_path(out2))
        assert set(_guids(first)) == set(_guids(second))
        guid = guid_for_key("metric/f1-score")
        assert first.get_note(_guids(first)[guid])["Name"] == "F1 score"
        assert second.get_note(_guids(second)[guid])["Name"] == "F1 score (F-measure)"
        # Importing the edited deck over the first creates no new note.
        import_package(first, deck_path(out2))
        assert first.note_count() == len(_guids(second))
    finally:
        first.close()
        second.close()
