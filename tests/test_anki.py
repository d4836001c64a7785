"""The built deck, imported into a real collection by the official ``anki`` package."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

from ankigen.build import BuildOptions, build, deck_path
from ankigen.cards import KINDS
from ankigen.config import EXAMS
from ankigen.discover import NON_NOTE_FILES
from ankigen.package import guid_for_key

from .conftest import REAL_SOURCES, VALID, card_body, import_package
from .inert import visible_text

CORPORA = {"fixture": VALID, "cards_src": REAL_SOURCES}  # built from copies, see _copy
# Labels that make no card of their own: subjects, metadata and counterparts.
_NO_CARD = {f.label for k in KINDS.values() for f in k.fields if f not in k.card_fields}
_META_LABELS = {"Tags", "Deck", "Renamed from", "Retired"}
_LEFTOVER = re.compile(r"\{\{[#/^!]?\s*[A-Za-z][A-Za-z ]*\s*\}\}")  # an unrendered {{Field}}
_ITEM = re.compile(r"^- \*\*([^*]+?):?\*\*:?[ \t]*(.*)$")


def _count_from_sources(root: Path) -> tuple[int, int]:
    """Count notes and cards straight from the Markdown, independently of the parser."""
    notes = cards = 0
    for path in root.rglob("*.md"):
        if path.name in NON_NOTE_FILES:
            continue
        in_note = in_fence = False
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
            if in_fence:
                continue
            if line.startswith("## "):
                notes += 1
                in_note = True
            elif line.startswith("# "):
                in_note = False
            match = _ITEM.match(line)
            if in_note and match and match.group(1) not in _NO_CARD | _META_LABELS:
                following = lines[index + 1] if index + 1 < len(lines) else ""
                if match.group(2) or following.startswith(("  ", "\t")):
                    cards += 1
    return notes, cards


@pytest.fixture(params=sorted(CORPORA), scope="module")
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(sources, package) for each corpus, built once per module."""
    out = tmp_path_factory.mktemp("build")
    source = tmp_path_factory.mktemp("src") / "cards_src"
    shutil.copytree(CORPORA[request.param], source)
    result = build(BuildOptions(source_dir=source, build_dir=out))
    assert result.ok, [d.format() for d in result.diagnostics]
    return source, deck_path(out)


def test_every_card_renders_in_anki(built: tuple[Path, Path], collection: Collection) -> None:
    import_package(collection, built[1])
    card_ids = collection.find_cards("")
    assert card_ids
    for card_id in card_ids:
        card = collection.get_card(card_id)
        question, answer = card_body(card.question()), card_body(card.answer())
        assert question, card_id
        for side in (question, answer):
            assert "template has a problem" not in side.lower()
            assert not _LEFTOVER.search(side), side
        assert answer != question
        assert len(answer) > len(question)


def test_counts_match_the_sources(built: tuple[Path, Path], collection: Collection) -> None:
    notes, cards = _count_from_sources(built[0])
    import_package(collection, built[1])
    assert collection.note_count() == notes
    assert collection.card_count() == cards


def test_fixture_counts_by_hand(
    collection: Collection, tmp_path: Path, valid_sources: Path
) -> None:
    # 8 notes; cards: f1 4, recall 2, xgboost 7, eta 3, p3 2, polly 2, overfitting 2, qa 1.
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path))
    assert result.outputs[0][1:] == (8, 23)
    import_package(collection, deck_path(tmp_path))
    assert (collection.note_count(), collection.card_count()) == (8, 23)


def test_every_note_carries_exam_and_kind_tags(
    built: tuple[Path, Path], collection: Collection
) -> None:
    import_package(collection, built[1])
    for note_id in collection.find_notes(""):
        note = collection.get_note(note_id)
        exam_tags = [t for t in note.tags if t.startswith("exam::")]
        assert exam_tags, note.fields[0]
        for tag in exam_tags:
            assert tag.split("::")[1] in EXAMS
        kinds = [t for t in note.tags if t.startswith("kind::")]
        assert len(kinds) == 1 and kinds[0].removeprefix("kind::") in KINDS


def test_card_front_names_subject_and_asks_one_thing(
    tmp_path: Path, collection: Collection, valid_sources: Path
) -> None:
    build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path))
    import_package(collection, deck_path(tmp_path))
    (note_id,) = collection.find_notes('"Name:XGBoost"')
    note = collection.get_note(note_id)
    fronts = {card.template()["name"]: card_body(card.question()) for card in note.cards()}
    assert "Training input" in fronts
    assert "XGBoost" in fronts["Training input"]
    assert "training input formats and content types?" in fronts["Training input"]
    # Empty optional fields make no card.
    assert "Data layout" not in fronts and "Channels" not in fronts
    assert len(fronts) == 7


def test_math_reaches_anki_as_mathjax(
    tmp_path: Path, collection: Collection, valid_sources: Path
) -> None:
    build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path))
    import_package(collection, deck_path(tmp_path))
    (note_id,) = collection.find_notes('"Name:Recall"')
    (card,) = [c for c in collection.get_note(note_id).cards() if c.template()["name"] == "Formula"]
    answer = visible_text(card_body(card.answer()))  # what MathJax reads: references decoded
    assert r"\(\text{recall} = \frac{TP}{TP + FN}\)" in answer
    assert r"\(a < b\)" in answer and r"\(c > d\)" in answer


def test_image_is_packaged_with_content_hashed_name(
    tmp_path: Path, collection: Collection, valid_sources: Path
) -> None:
    build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path))
    import_package(collection, deck_path(tmp_path))
    media = Path(collection.media.dir())
    (name,) = [p.name for p in media.iterdir()]
    assert re.fullmatch(r"curve\.[0-9a-f]{12}\.svg", name)
    shipped = (media / name).read_bytes()  # re-serialised from the parsed SVG
    assert shipped.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"') and b"<path" in shipped
    (note_id,) = collection.find_notes('"Term:Overfitting"')
    assert f'src="{name}"' in collection.get_note(note_id)["Contrast"]


@pytest.mark.parametrize("exam", sorted(EXAMS))
def test_exam_deck_has_only_its_notes_with_the_same_guids(
    exam: str, tmp_path: Path, real_sources: Path
) -> None:
    full = build(BuildOptions(source_dir=real_sources, build_dir=tmp_path))
    per_exam = build(BuildOptions(source_dir=real_sources, build_dir=tmp_path, exams=(exam,)))
    assert full.ok and per_exam.ok
    expected = [
        n for n in full.corpus.notes if any(t.startswith(f"exam::{exam}::") for t in n.tags)
    ]
    path, count, _ = per_exam.outputs[0]
    assert path == deck_path(tmp_path, exam)
    assert count == len(expected) > 0


def test_importing_two_exam_decks_creates_no_duplicates(
    tmp_path: Path, collection: Collection, real_sources: Path
) -> None:
    result = build(
        BuildOptions(source_dir=real_sources, build_dir=tmp_path, exams=("MLA-C01", "AIF-C01"))
    )
    assert result.ok and result.settlement is not None
    shipped = {
        result.settlement.guids[n.key]
        for n in result.corpus.notes
        if any(t.startswith(("exam::MLA-C01::", "exam::AIF-C01::")) for t in n.tags)
    }
    live = {guid_for_key(n.key) for n in result.corpus.notes}
    for path, _, _ in result.outputs:
        import_package(collection, path)
    guids = {collection.get_note(nid).guid for nid in collection.find_notes("")}
    assert guids == shipped and shipped & live
    assert collection.note_count() == len(shipped)


_INLINE_COLOUR = re.compile(
    r"""style\s*=\s*["'][^"']*(colou?r|background)|<font\b|\bbgcolor\s*=""", re.IGNORECASE
)
_REMOTE = re.compile(
    r"""(?:src|srcset|poster|data)\s*=\s*["']?\s*(?:https?:|//|data:)"""
    r"""|url\(\s*["']?\s*(?:https?:|//)|@import|<(?:script|link|iframe|object|embed)\b""",
    re.IGNORECASE,
)


def test_cards_have_no_inline_colour_and_load_nothing_remote(
    built: tuple[Path, Path], collection: Collection
) -> None:
    import_package(collection, built[1])
    for card_id in collection.find_cards(""):
        card = collection.get_card(card_id)
        for side in (card.question(), card.answer()):  # with the note type's CSS
            assert not _INLINE_COLOUR.search(side), side[:300]
            assert not _REMOTE.search(side), _REMOTE.search(side)


def test_night_mode_uses_ankis_classes() -> None:
    from ankigen.render import stylesheet

    css = stylesheet()
    assert ".nightMode" in css and ".night_mode" in css
