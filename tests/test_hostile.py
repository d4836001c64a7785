"""The trust boundary: nothing a note file says can act inside a learner's Anki.

Each case under ``tests/cases/hostile/<case>/`` is something a hostile contributor might
write. Its ``expected.txt`` says what must happen: either the located errors that refuse
it (``path:line:col code`` lines), or ``inert``: it builds, and every card the official
``anki`` package renders from it carries nothing active (``tests/inert.py``) and no
audio or speech tag.
"""

from __future__ import annotations

from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from anki.collection import Collection

from ankigen.build import BuildOptions, build, deck_path, load
from ankigen.media import Shipped
from ankigen.parse import parse
from ankigen.render import field_html

from .conftest import CASES, expected_locations, import_package
from .inert import active_content

HOSTILE = sorted(p for p in (CASES / "hostile").iterdir() if p.is_dir())


def _expected(case: Path) -> list[str]:
    return (case / "expected.txt").read_text(encoding="utf-8").split()


@pytest.mark.parametrize("case", HOSTILE, ids=[p.name for p in HOSTILE])
def test_hostile_case(case: Path, tmp_path: Path) -> None:
    if _expected(case) == ["inert"]:
        result = build(BuildOptions(source_dir=case, build_dir=tmp_path / "build", now=1))
        assert result.ok, [d.format() for d in result.diagnostics]
        col = Collection(str(tmp_path / "collection.anki2"))
        try:
            import_package(col, deck_path(tmp_path / "build"))
            card_ids = col.find_cards("")
            assert card_ids
            for card_id in card_ids:
                card = col.get_card(card_id)
                for side in (card.question(), card.answer()):
                    assert active_content(side) == [], side
                assert card.question_av_tags() == [] and card.answer_av_tags() == []
        finally:
            col.close()
        return
    corpus = load(case)
    got = sorted(
        (
            Path(d.location.path).resolve().relative_to(case.resolve()).as_posix(),
            d.location.line,
            d.location.column,
            d.code,
        )
        for d in corpus.diagnostics
    )
    assert got == expected_locations(case)
    assert not corpus.ok


def _any_image() -> defaultdict[str, Shipped]:
    return defaultdict(lambda: Shipped("x.0123456789ab.svg", "x.svg", b""))


@pytest.mark.parametrize("case", HOSTILE, ids=[p.name for p in HOSTILE])
def test_refused_fields_would_render_inert_anyway(case: Path) -> None:
    """Defence in depth: the renderer escapes what the checks refuse, should one slip."""
    for path in case.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        source, _ = parse(text, path.name)
        for note in source.notes:
            for item in note.fields:
                assert active_content(field_html(item, _any_image())) == []


def test_symlinked_note_file_and_media_folder_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "media").mkdir(parents=True)
    (outside / "secret.md").write_text(
        "---\ntags: [exam::MLA-C01::D1-Data-Preparation::1.1]\n---\n\n## qa/s\n\n"
        "- **Question:** Secret?\n- **Answer:** Yes.\n"
    )
    (outside / "media" / "private.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.md").symlink_to(outside / "secret.md")
    (src / "media").symlink_to(outside / "media", target_is_directory=True)
    (src / "real.md").write_text(
        "---\ntags: [exam::MLA-C01::D1-Data-Preparation::1.1]\n---\n\n## qa/r\n\n"
        "- **Question:** Real?\n- **Answer:** ![p](media/private.png)\n"
    )
    corpus = load(src)
    codes = sorted((Path(d.location.path).name, d.code) for d in corpus.diagnostics)
    assert codes == [("media", "symlink"), ("notes.md", "symlink"), ("real.md", "missing-media")]
    assert corpus.notes == ()


def test_source_folder_that_is_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    corpus = load(tmp_path / "loop")
    assert [d.code for d in corpus.diagnostics] in (["symlink"], ["missing-source"])


def test_a_file_name_cannot_forge_diagnostic_lines(tmp_path: Path) -> None:
    name = "x\nfake.md:1:1: error: forged [bad-key]\n.md"
    (tmp_path / name).write_text("## Bad Key\n")
    corpus = load(tmp_path)
    lines = [d.format() for d in corpus.diagnostics]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "\\x0afake.md:1:1" in lines[0]


def test_the_preview_page_keeps_math_inert(tmp_path: Path) -> None:
    """The preview turns math into MathML: a formula must not bring HTML into the page."""
    from ankigen.preview import write_preview

    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.md").write_text(
        "---\ntags: [exam::MLA-C01::D2-Model-Development::2.1]\n---\n\n## qa/x\n\n"
        '- **Question:** What is $\\text{<img/src="x"/onerror="alert(1)">}$?\n'
        '- **Answer:** See [docs](https://example.com "\\\\(\\href{javascript:x}{y}\\\\)").\n'
    )
    result = build(BuildOptions(source_dir=src, build_dir=tmp_path / "b", now=1))
    assert result.ok, [d.format() for d in result.diagnostics]
    page = write_preview(deck_path(tmp_path / "b"), tmp_path / "preview").read_text()
    found: list[str] = []

    class Attributes(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(f"{tag} {name}={value}" for name, value in attrs)

    Attributes().feed(page)
    active = [a for a in found if " on" in a or a.startswith("img ") or "href=javascript" in a]
    assert active == [], active


def test_code_in_a_language_with_a_slow_lexer_is_plain_text() -> None:
    from ankigen import render

    assert render._lexer("c").name == "Text only"
    assert render._lexer("python").name == "Python"
