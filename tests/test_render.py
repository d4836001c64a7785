"""The golden render corpus: each case's cards exactly as Anki renders them.

Every case under ``tests/cases/render/<case>/`` holds notes (and media); its
``expected.html`` is every card's question and answer as the official ``anki`` package
renders them after importing the built deck (the note type's ``<style>`` left out). After
an intended change to rendering or templates, regenerate them and review the diff:

    .venv/bin/pytest tests/test_render.py --update-golden
"""

from __future__ import annotations

from pathlib import Path

import pytest
from anki.collection import Collection

from ankigen.build import BuildOptions, build, deck_path

from .conftest import CASES, card_body, import_package
from .inert import active_content

RENDER = sorted(p for p in (CASES / "render").iterdir() if p.is_dir())


def rendered_cards(case: Path, out: Path) -> str:
    """Every card of the case's deck, question then answer, in note key and template order."""
    result = build(BuildOptions(source_dir=case, build_dir=out / "build", now=1_700_000_000))
    assert result.ok, [d.format() for d in result.diagnostics]
    col = Collection(str(out / "collection.anki2"))
    try:
        import_package(col, deck_path(out / "build"))
        keys = {result.settlement.guids[n.key]: n.key for n in result.corpus.notes}  # type: ignore[union-attr]
        cards = []
        for card_id in col.find_cards(""):
            card = col.get_card(card_id)
            note = card.note()
            cards.append((keys[note.guid], card.ord, card))
        parts = []
        for key, _, card in sorted(cards, key=lambda c: (c[0], c[1])):
            name = card.template()["name"]
            question, answer = card_body(card.question()), card_body(card.answer())
            parts.append(f"=== {key} / {name}\n--- question\n{question}\n--- answer\n{answer}\n")
    finally:
        col.close()
    return "\n".join(parts)


@pytest.mark.parametrize("case", RENDER, ids=[p.name for p in RENDER])
def test_cards_render_as_recorded(
    case: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    got = rendered_cards(case, tmp_path)
    expected = case / "expected.html"
    if request.config.getoption("--update-golden"):
        expected.write_text(got, encoding="utf-8")
    assert expected.read_text(encoding="utf-8") == got


@pytest.mark.parametrize("case", RENDER, ids=[p.name for p in RENDER])
def test_golden_cards_are_inert(case: Path) -> None:
    text = (case / "expected.html").read_text(encoding="utf-8")
    assert active_content(text) == []
