"""Cards in a real browser, as Anki shows them, at phone and desktop widths, light and night.

Every card of the real deck, both sides, is rendered by the official ``anki`` package and
laid out in headless Chromium (Debian's ``chromium`` and ``chromium-driver``) inside the
chrome of Anki desktop at 360x740 and 1280x800 and of AnkiDroid at 360x740 (whose margins
leave about 322 px), with MathJax 3 configured as Anki configures it
(``tests/browser_support.py``). On every side: nothing wider than the card, no text under
14 px, no contrast under 4.5:1, no MathJax error, no raw tags. Content wider than a phone
may wrap (formulas) or scroll sideways with a visible cue (formulas, tables, code): a
small corpus of such notes (``tests/cases/phone``) shows that it does. Each check is also
shown to fail on a deliberately bad card. The preview page is checked the same way, and
for fitting a phone with its toolbar in view.

Reports (what scrolled, what wrapped) and a screenshot of one card of each kind go under
``build/test-artifacts/`` (or ``$ANKIGEN_ARTIFACTS``). Without Chromium these tests are
reported as skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ankigen.build import BuildOptions, build, deck_path
from ankigen.render import stylesheet

from .browser_support import (
    FRAMES,
    CardSide,
    Mode,
    Rendered,
    Report,
    Side,
    card_page,
    check_page,
    chromium,
    chromium_missing,
    rendered_sides,
    set_viewport,
    summary,
)
from .conftest import CASES, REAL_SOURCES, REPO

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")

ARTIFACTS = Path(os.environ.get("ANKIGEN_ARTIFACTS", REPO / "build" / "test-artifacts"))

PHONE = (360, 740)
DESKTOP = (1280, 800)
VIEWS = [
    pytest.param("desktop", *PHONE, id="desktop-360"),
    pytest.param("desktop", *DESKTOP, id="desktop-1280"),
    pytest.param("ankidroid", *PHONE, id="ankidroid-360"),
]
MODES = ["light", "night"]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def _built(source: Path, root: Path) -> Path:
    shutil.copytree(source, root / "cards_src")
    result = build(BuildOptions(source_dir=root / "cards_src", build_dir=root / "build"))
    assert result.ok, [d.format() for d in result.corpus.diagnostics[:20]]
    return deck_path(root / "build")


@pytest.fixture(scope="module")
def real_deck(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return rendered_sides(_built(REAL_SOURCES, tmp_path_factory.mktemp("real")))


@pytest.fixture(scope="module")
def phone_deck(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return rendered_sides(_built(CASES / "phone", tmp_path_factory.mktemp("phone")))


def _measure(
    browser: WebDriver,
    page: Path,
    sides: Sequence[CardSide],
    css: str,
    frame: str,
    size: tuple[int, int],
    mode: Mode,
    extra_css: str = "",
) -> Report:
    page.write_text(card_page(sides, css, FRAMES[frame], mode, extra_css), encoding="utf-8")
    set_viewport(browser, *size)
    return check_page(browser, page, sides)


def _keep(browser: WebDriver, report: Report, name: str, kinds: Sequence[str]) -> None:
    """Save what scrolled and what wrapped, and a screenshot of one answer of each kind."""
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{report.sides} sides, {report.texts} texts, {report.formulas} formulas; smallest "
        f"text {report.smallest_text:.1f} px, lowest contrast {report.lowest_contrast:.2f}",
        f"{len(report.scrolled)} scroll sideways (with a cue):",
        *report.scrolled,
        f"{len(report.wrapped)} formulas wrapped:",
        *report.wrapped,
    ]
    (ARTIFACTS / f"cards-{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(exist_ok=True)
    for kind in sorted(set(kinds)):
        found = browser.find_elements(
            By.CSS_SELECTOR, f'.sides > .card[data-kind="{kind}"][data-side="back"]'
        )
        if found:
            browser.execute_script("arguments[0].scrollIntoView();", found[0])
            found[0].screenshot(str(shots / f"{kind}-{name}.png"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("frame", "width", "height"), VIEWS)
def test_every_card_as_anki_shows_it(
    browser: WebDriver,
    real_deck: Rendered,
    tmp_path: Path,
    frame: str,
    width: int,
    height: int,
    mode: Mode,
) -> None:
    page = tmp_path / "cards.html"
    report = _measure(browser, page, real_deck.sides, real_deck.css, frame, (width, height), mode)
    _keep(browser, report, f"{frame}-{width}-{mode}", [s.kind for s in real_deck.sides])
    assert report.sides == len(real_deck.sides) > 1000
    assert report.formulas > 50  # MathJax ran and typeset the deck's formulas
    assert report.texts > report.sides
    assert report.problems == (), summary(report)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("frame", "width", "height"), VIEWS)
def test_wide_tables_code_and_formulas_wrap_or_scroll(
    browser: WebDriver,
    phone_deck: Rendered,
    tmp_path: Path,
    frame: str,
    width: int,
    height: int,
    mode: Mode,
) -> None:
    page = tmp_path / "phone.html"
    report = _measure(browser, page, phone_deck.sides, phone_deck.css, frame, (width, height), mode)
    assert report.problems == (), summary(report)
    if width == DESKTOP[0]:
        return
    scrolled, wrapped = "\n".join(report.scrolled), "\n".join(report.wrapped)
    assert "A table wider than a phone? · Answer (back): <table>" in scrolled
    assert "A code block with long lines? · Answer (back): <pre.highlight>" in scrolled
    assert "A fraction wider than a phone · Formula (back): <span.math.display>" in scrolled
    assert "A table of prose on a phone?" not in scrolled  # it wraps, at word boundaries
    assert "A display formula of many parts, about 600 px wide · Formula (back)" in wrapped
    assert "An inline formula wider than a line? · Answer (back)" in wrapped


# Deliberately bad cards: each must fail exactly the check named, beside a good card.


def _back(answer: str) -> str:
    return (
        '<div class="recap"><div class="ankigen question kind-qa">'
        '<div class="card-meta">Q&amp;A</div><div class="prompt">A question?</div></div></div>'
        f'<hr id="answer"><div class="ankigen answer kind-qa"><div class="answer-body">{answer}'
        "</div></div>"
    )


_MANY_PARTS = " + ".join(f"\\alpha_{{{i}}} x_{{{i}}}" for i in range(1, 14))
_WIDE_PART = r"\frac{\text{requests served from an already-loaded model}}{\text{all requests}}"


@dataclass(frozen=True, slots=True)
class BadCard:
    html: str
    check: str
    """The check that must fail, and only it."""
    mode: Mode = "light"
    extra_css: str = ""
    """A stylesheet that undoes one of the deck's own remedies."""
    side: Side = "back"


BAD_CARDS = {
    "box-600px-wide": BadCard(
        _back('<div style="width: 600px">A box 600 px wide</div>'), "overflow"
    ),
    "formula-600px-unwrapped": BadCard(
        _back(rf'<span class="math display">\[{_MANY_PARTS}\]</span>'),
        "overflow",
        extra_css=".card .math.display { overflow: visible !important; } mjx-container > mjx-math"
        " { white-space: nowrap !important; }",
    ),
    "inline-formula-one-wide-part": BadCard(
        _back(r"An inline \(\text{part of a formula far wider than any phone screen is}\)."),
        "overflow",
    ),
    "cut-off": BadCard(
        _back(
            '<div style="overflow: hidden"><span style="white-space: nowrap">A line of text that'
            " runs on far past the right-hand edge of a phone</span></div>"
        ),
        "cut-off",
    ),
    "scrolls-without-cue": BadCard(
        _back(rf'<span class="math display">\[{_WIDE_PART}\]</span>'),
        "no-scroll-cue",
        extra_css=".card .math.display { background-image: none !important; }",
    ),
    "table-breaking-words": BadCard(
        _back(
            "<table><tr><th>Instance</th><th>Accelerator</th><th>Notes</th></tr><tr>"
            "<td>ml.p4d.24xlarge</td><td>NVIDIA-A100-Tensor-Core</td><td>Distributed-training"
            "</td></tr></table>"
        ),
        "split-word",
        extra_css=".card { overflow-wrap: anywhere !important; }",
    ),
    "text-10px": BadCard(
        _back('<span style="font-size: 10px">Ten-pixel text</span>'), "small-text"
    ),
    "pale-text-light": BadCard(
        _back('<span style="color: #a0a0a0">Pale grey text</span>'), "contrast"
    ),
    "dark-text-night": BadCard(
        _back('<span style="color: #555555">Dark grey text</span>'), "contrast", mode="night"
    ),
    "mathjax-error": BadCard(_back(r"A fraction with one part: \(\frac{1}\)"), "mathjax-error"),
    "untypeset-math": BadCard(_back(r"An unclosed formula \(x + y"), "raw-math", side="front"),
    "raw-tags": BadCard(
        _back('<div class="tags">exam::MLA-C01::D2-Model-Development::2.3 kind::qa</div>'),
        "raw-tag",
    ),
    "tall-tag-line": BadCard(
        _back('A short answer.<div class="card-tags">' + "MLA-C01 2.3 · " * 40 + "</div>"),
        "tag-line",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CARDS))
def test_checks_find_a_bad_card(browser: WebDriver, tmp_path: Path, case: str) -> None:
    bad = BAD_CARDS[case]
    sides = [
        CardSide("good", "back", 0, "qa", _back(r"A good answer, \(x^2\), in <code>code</code>.")),
        CardSide("bad", bad.side, 0, "qa", bad.html),
    ]
    page = tmp_path / "bad.html"
    report = _measure(browser, page, sides, stylesheet(), "desktop", PHONE, bad.mode, bad.extra_css)
    assert {(p.label, p.check) for p in report.problems} == {("bad", bad.check)}, summary(report)


def test_remedies_keep_a_wide_formula_whole(browser: WebDriver, tmp_path: Path) -> None:
    """The deck's own style, without the bad cards' extra CSS, passes the same formulas."""
    sides = [
        CardSide("wide", "back", 0, "metric", _back(rf'<span class="math display">\[{f}\]</span>'))
        for f in (_MANY_PARTS, _WIDE_PART)
    ]
    report = _measure(browser, tmp_path / "ok.html", sides, stylesheet(), "desktop", PHONE, "light")
    assert report.problems == (), summary(report)
    assert len(report.wrapped) == 1 and len(report.scrolled) == 1


# The preview page (`ankigen preview`).


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ankigen.preview import write_preview

    package = _built(REAL_SOURCES, tmp_path_factory.mktemp("preview"))
    return write_preview(package, package.parent / "preview")


def _open_preview(browser: WebDriver, preview: Path, size: tuple[int, int], mode: Mode) -> None:
    set_viewport(browser, *size)
    browser.get("about:blank")
    browser.get(preview.as_uri() + ("#night" if mode == "night" else ""))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["360", "1280"])
def test_preview_fits_with_its_toolbar_in_view(
    browser: WebDriver, preview: Path, size: tuple[int, int], mode: Mode
) -> None:
    from selenium.webdriver.common.by import By

    _open_preview(browser, preview, size, mode)
    assert browser.find_element(By.ID, "night-mode").is_selected() == (mode == "night")
    width, scrolled, bar_top, bar_bottom, night = browser.execute_script(
        "const bar = document.querySelector('.preview-bar').getBoundingClientRect();"
        "return [document.documentElement.scrollWidth, window.scrollY, bar.top, bar.bottom,"
        " document.querySelector('.pane').classList.contains('nightMode')];"
    )
    assert width <= size[0], f"the page is {width} px wide"
    assert (scrolled, bar_top) == (0, 0), "the toolbar is scrolled out of view"
    assert 0 < bar_bottom < size[1] / 2
    assert night == (mode == "night")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["360", "1280"])
def test_preview_cards_fit_and_read_well(
    browser: WebDriver, preview: Path, size: tuple[int, int], mode: Mode
) -> None:
    from selenium.webdriver.common.by import By

    _open_preview(browser, preview, size, mode)
    panes = browser.find_elements(By.CSS_SELECTOR, ".sides > .card")
    labels = [
        CardSide(f"card {i // 2 + 1}", "front" if i % 2 == 0 else "back", 0, "", "")
        for i in range(len(panes))
    ]
    report = check_page(browser, preview, labels, reload=False)
    assert report.sides == len(panes) > 1000
    assert report.problems == (), summary(report)


def test_preview_filters_by_kind_and_exam(browser: WebDriver, preview: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _open_preview(browser, preview, DESKTOP, "light")
    Select(browser.find_element(By.ID, "kind")).select_by_value("metric")
    visible = browser.execute_script(
        "return Array.from(document.querySelectorAll('.preview-card:not([hidden])'))"
        ".map(c => c.dataset.kind)"
    )
    assert visible and set(visible) == {"metric"}
    Select(browser.find_element(By.ID, "kind")).select_by_value("")
    Select(browser.find_element(By.ID, "exam")).select_by_value("exam::AIF-C01::D4-Responsible-AI")
    tags = browser.execute_script(
        "return Array.from(document.querySelectorAll('.preview-card:not([hidden])'))"
        ".map(c => c.dataset.tags)"
    )
    assert tags and all(" exam::AIF-C01::D4-Responsible-AI" in t for t in tags)
