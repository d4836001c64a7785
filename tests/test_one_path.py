"""One path from Markdown to card: nothing shipped comes from anywhere but the checked notes.

No cache, no second parser, no stored HTML: the record cannot change a card, a template or
style edit ships at the next build, the installed highlighting library does not make the
record stale, and the package holds no code that could run at build time.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

from ankigen import render
from ankigen.build import BuildOptions, build, check, deck_path, load

from .conftest import REAL_SOURCES, REPO, card_body, import_package

PACKAGE = REPO / "ankigen"


def _cards(package: Path, tmp: Path) -> dict[tuple[str, str], tuple[str, str]]:
    col = Collection(str(tmp / "c.anki2"))
    try:
        import_package(col, package)
        cards = {}
        for card_id in col.find_cards(""):
            card = col.get_card(card_id)
            key = (card.note().guid, card.template()["name"])
            cards[key] = (card_body(card.question()), card_body(card.answer()))
        return cards
    finally:
        col.close()


def test_editing_the_record_by_hand_cannot_change_a_card(
    valid_sources: Path, tmp_path: Path
) -> None:
    build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "a", now=1))
    lock = valid_sources / "ankigen.lock"
    lines = lock.read_text(encoding="utf-8").split("\n")
    edited = [
        line.replace(line.split()[3], "0" * 20) if line.startswith("note ") else line
        for line in lines
    ]
    lock.write_text("\n".join(edited), encoding="utf-8")
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "b", now=2))
    assert result.ok
    (tmp_path / "ca").mkdir()
    (tmp_path / "cb").mkdir()
    before = _cards(deck_path(tmp_path / "a"), tmp_path / "ca")
    after = _cards(deck_path(tmp_path / "b"), tmp_path / "cb")
    assert before == after  # the same HTML; only change times can move


def test_a_style_edit_ships_at_the_next_build(
    valid_sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(render.templates_dir(), templates)
    with (templates / "style.css").open("a", encoding="utf-8") as css:
        css.write("\n.card { outline: 1px solid #123456; }\n")
    monkeypatch.setattr(render, "templates_dir", lambda: templates)
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "b", now=5))
    assert result.ok and result.settlement is not None
    assert set(result.settlement.type_times.values()) == {5}  # newer: Anki updates the types
    col = Collection(str(tmp_path / "c.anki2"))
    try:
        import_package(col, deck_path(tmp_path / "b"))
        ours = [m for m in col.models.all() if m["name"].startswith("ankigen: ")]
        assert ours and all("#123456" in model["css"] for model in ours)
    finally:
        col.close()


def test_the_record_does_not_depend_on_the_highlighting_library(
    valid_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (valid_sources / "code.md").write_text(
        "---\ntags: [exam::MLA-C01::D2-Model-Development::2.1]\n---\n\n## qa/code\n\n"
        "- **Question:** Which call fits a model?\n- **Answer:** This one:\n\n"
        "  ```python\n  model.fit(x, y)\n  ```\n"
    )
    from ankigen.build import record

    options = BuildOptions(source_dir=valid_sources, build_dir=valid_sources.parent / "b", now=9)
    assert record(options).written
    # Another Pygments release marks the same code up differently: the record stays current.
    monkeypatch.setattr(render, "highlight", lambda code, lexer, formatter: f"<i>{code}</i>")
    result = check(options)
    assert result.ok and result.settlement is not None and result.settlement.current
    (note,) = [n for n in load(valid_sources).notes if n.key == "qa/code"]
    assert "<i>model.fit(x, y)" in note.html()[1]


def test_a_new_algorithm_note_and_a_note_for_one_exam_pass_check(tmp_path: Path) -> None:
    src = tmp_path / "cards_src"
    shutil.copytree(REAL_SOURCES, src)
    (src / "algorithms" / "lightgbm.md").write_text(
        "---\ndeck: Algorithms\ntags: [exam::MLA-C01::D2-Model-Development::2.1]\n---\n\n"
        "## algorithm/lightgbm\n\n- **Name:** LightGBM\n"
        "- **Purpose:** Gradient-boosted trees for tabular classification and regression.\n"
        "- **Learning type:** Supervised; classification and regression.\n"
        "- **Training input:** CSV with the target in the first column.\n"
        "- **Inference:** CSV in; predictions out.\n"
        "- **Training instances:** CPU instances.\n- **Inference instances:** CPU instances.\n"
    )
    result = check(BuildOptions(source_dir=src))
    assert [d.format() for d in result.diagnostics if d.severity == "error"] == []
    assert "algorithm/lightgbm" in {n.key for n in result.corpus.notes}


_FORBIDDEN_MODULES = {"pickle", "marshal", "multiprocessing", "copyreg", "shelve", "threading"}


@pytest.mark.parametrize("module", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_cache_fork_thread_or_collector_in_the_package(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & _FORBIDDEN_MODULES
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in _FORBIDDEN_MODULES | {"gc"}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in {("os", "fork"), ("os", "forkpty")}
            assert node.value.id != "gc"
