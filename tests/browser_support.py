"""Cards as Anki shows them, in headless Chromium: the page, the frames, the checks.

A built package is imported into a scratch collection with the official ``anki`` package and
every card's question and answer are rendered by Anki's own template engine
(:func:`rendered_sides`). :func:`card_page` lays them out in one HTML page, each side in its
own ``.card`` container as wide as the viewport, inside the chrome of one Anki client
(:data:`FRAMES`), with Anki's own MathJax 3 configuration and MathJax from the
``django-static-mathjax`` package (the same 3.2.2 build Anki ships) as a local file.
:func:`check_page` opens the page and measures every side (:data:`CHECK_JS`).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return None
    return (
        "Chromium is not installed (Debian packages chromium and chromium-driver; "
        ".ci/run installs them): browser checks NOT run"
    )


def mathjax_dir() -> Path:
    """The folder of MathJax 3's ``es5`` bundles, from the ``django-static-mathjax`` package
    (installed by the ``test`` extra; the 3.2.2 release Anki and AnkiDroid ship)."""
    from importlib.resources import files

    try:
        root = Path(str(files("mathjax"))) / "static" / "mathjax" / "es5"
    except ModuleNotFoundError as exc:  # pragma: no cover - an install problem
        raise RuntimeError(
            "MathJax 3 is missing: the 'django-static-mathjax' package of the test extra "
            "(pip install -e '.[test]') ships it"
        ) from exc
    if not (root / "tex-chtml-full.js").is_file():  # pragma: no cover - an install problem
        raise RuntimeError(f"MathJax 3's tex-chtml-full.js is not in {root}")
    return root


Side = Literal["front", "back"]
Mode = Literal["light", "night"]


@dataclass(frozen=True, slots=True)
class CardSide:
    """One side of one card, as Anki renders it."""

    label: str
    """Which card: the note's subject and the card template."""
    side: Side
    """Question or answer."""
    ord: int
    """The card template's position (Anki's body carries ``card<ord + 1>``)."""
    kind: str
    """The note's kind, from its ``kind::`` tag."""
    html: str
    """The rendered HTML, without the note type's ``<style>``."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """Every side of every card of a package, and the CSS of its note types."""

    sides: tuple[CardSide, ...]
    css: str
    """The note types' style sheet (they share one)."""


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def rendered_sides(package: Path) -> Rendered:
    """Import ``package`` into a scratch collection; render every card's two sides."""
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    sides: list[CardSide] = []
    css: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="ankigen-cards-") as scratch:
        col = Collection(str(Path(scratch) / "cards.anki2"))
        try:
            col.import_anki_package(
                ImportAnkiPackageRequest(
                    package_path=str(package), options=ImportAnkiPackageOptions()
                )
            )
            for card_id in col.find_cards("", order="n.sfld collate nocase asc, c.ord asc"):
                card = col.get_card(card_id)
                note = card.note()
                subject = html.unescape(_TAGS.sub("", note.fields[0]))
                label = f"{subject} · {card.template()['name']}"
                kind = next((t[6:] for t in note.tags if t.startswith("kind::")), "")
                question, answer = card.question(), card.answer()
                css.update(_STYLE.findall(question) + _STYLE.findall(answer))
                both: tuple[tuple[Side, str], ...] = (("front", question), ("back", answer))
                for side, rendered in both:
                    body = _STYLE.sub("", rendered).strip()
                    sides.append(CardSide(label, side, card.ord, kind, body))
        finally:
            col.close()
    assert len(css) <= 1, "the note types should share one style sheet"
    return Rendered(tuple(sides), css.pop() if css else "")


@dataclass(frozen=True, slots=True)
class Frame:
    """The chrome one Anki client puts around a card: its own CSS, the classes it gives the
    element that carries ``.card`` (Anki's ``<body>``) and its night-mode classes."""

    name: str
    css: str
    night_classes: str
    html_classes: str = ""


# Anki desktop's reviewer (ts/reviewer/reviewer.scss and the theme's --canvas and --fg);
# rules for Anki's <body> apply here to each side's container at the same specificity
# (`:where(.sides) > div` weighs as much as `body`), so the deck's CSS wins where it would.
_DESKTOP_CSS = """
:root { --canvas: #f5f5f5; --fg: #020202; }
:root.night { --canvas: #2c2c2c; --fg: #fcfcfc; }
hr { background-color: #737373; margin: 1em 0; border: none; height: 1px; }
:where(.sides) > div { margin: 20px; overflow-wrap: break-word; }
:where(.sides) > div.nightMode { background-color: var(--canvas); color: var(--fg); }
img { max-width: 100%; max-height: 95vh; }
li { text-align: start; }
pre { text-align: left; }
.nightMode .latex { filter: invert(100%); }
"""

# AnkiDroid's card_template.html and flashcard.css: the card sits in <div id="content">
# with a margin of 0.5em; night mode adds night_mode, nightMode and ankidroid_dark_mode.
_ANKIDROID_CSS = """
:where(.sides) > div { margin: 0; padding: 0; overflow-wrap: break-word; }
:where(.sides) > div.night_mode { color: white; background-color: black; }
:where(.sides) > div.ankidroid_dark_mode { background-color: #303030; }
.qa { margin: 0.5em; }
li { text-align: start; }
pre { text-align: left; }
.nightMode .latex { filter: invert(100%); }
.chrome img { max-width: 100%; max-height: 90%; }
"""

FRAMES = {
    "desktop": Frame("desktop", _DESKTOP_CSS, "nightMode night_mode"),
    "ankidroid": Frame(
        "ankidroid",
        _ANKIDROID_CSS,
        "night_mode nightMode ankidroid_dark_mode",
        html_classes="mobile android linux js chrome",
    ),
}

# Anki's MathJax configuration (ts/mathjax/index.ts, which AnkiDroid loads too as
# backend/js/mathjax.js), with the loader pointed at the local copy. Like Anki's reviewer,
# the page typesets once its content is in place (startup.typeset is false).
_MATHJAX_CONFIG = {
    "tex": {
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": False,
        "processEnvironments": False,
        "processRefs": False,
        "packages": {"[+]": ["noerrors", "mathtools"], "[-]": ["textmacros"]},
    },
    "loader": {"load": ["[tex]/noerrors", "[tex]/mathtools"], "paths": {"mathjax": ""}},
    "startup": {"typeset": False},
}

_READY_JS = """
window.ankigenReady = (window.MathJax && MathJax.startup ? MathJax.startup.promise
    : Promise.reject(new Error("MathJax did not load")))
  .then(() => MathJax.typesetPromise())
  .then(() => document.fonts.ready)
  .then(() => "ok", error => "MathJax failed: " + error);
"""


def card_page(
    sides: Sequence[CardSide], css: str, frame: Frame, mode: Mode, extra_css: str = ""
) -> str:
    """One page with every side in its own ``.card`` container, as ``frame`` shows it."""
    config = json.loads(json.dumps(_MATHJAX_CONFIG))
    config["loader"]["paths"]["mathjax"] = mathjax_dir().as_uri()
    night = f" {frame.night_classes}" if mode == "night" else ""
    html_classes = " ".join(c for c in (frame.html_classes, "night" if night else "") if c)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en" class="{html_classes}">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{frame.css}</style>",
        # Anki puts the note type's CSS inside the card, after the reviewer's own.
        f"<style>{css}</style>",
        f"<style>{extra_css}</style>" if extra_css else "",
        f"<script>window.MathJax = {json.dumps(config)};</script>",
        f'<script src="{(mathjax_dir() / "tex-chtml-full.js").as_uri()}"></script>',
        "</head>",
        '<body style="margin: 0"><div class="sides">',
    ]
    for side in sides:
        parts.append(
            f'<div class="card card{side.ord + 1}{night}" data-side="{side.side}"'
            f' data-kind="{html.escape(side.kind)}">'
            f'<div class="qa">{side.html}</div></div>'
        )
    parts.append(f"</div><script>{_READY_JS}</script></body></html>")
    return "\n".join(parts)


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """Headless Chromium through chromedriver, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # MathJax's fonts are local files, loaded by a page that is a local file too.
        "--allow-file-access-from-files",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_script_timeout(600)
    try:
        yield browser
    finally:
        browser.quit()


def set_viewport(driver: WebDriver, width: int, height: int) -> None:
    """Emulate a screen: a phone (touch, overlay scrollbars) below 500 px."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
    )


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing a learner would meet on one side of one card."""

    index: int
    """Position of the side on the page."""
    label: str
    side: Side
    check: str
    """Which check: overflow, cut-off, no-scroll-cue, split-word, small-text, contrast,
    mathjax-error, raw-math, raw-tag, tag-line."""
    detail: str

    def __str__(self) -> str:
        return f"{self.label} ({self.side}): {self.check}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Report:
    """What :data:`CHECK_JS` found on one page."""

    problems: tuple[Problem, ...]
    sides: int
    """Sides measured."""
    texts: int
    """Elements with text whose size and contrast were measured."""
    formulas: int
    """MathJax formulas typeset."""
    scrolled: tuple[str, ...]
    """Boxes whose content is wider than they are and scrolls (allowed, with a cue)."""
    wrapped: tuple[str, ...]
    """Formulas wider than the card, wrapped onto more than one line (allowed)."""
    widest: float
    """The widest content of any side, in px, relative to the side's own width (1.0: fits)."""
    smallest_text: float
    """The smallest font size of any text, in px."""
    lowest_contrast: float
    """The lowest text contrast measured."""

    def by_check(self) -> dict[str, int]:
        """How many problems of each kind."""
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.check] = counts.get(problem.check, 0) + 1
        return dict(sorted(counts.items()))


# Measures every side on the page. A side is a `.card` container; inside it:
# - overflow: the container scrolls sideways, or an element sticks out of it;
# - cut-off: an element sticks out of an ancestor that hides overflow;
# - no-scroll-cue: a container that scrolls sideways shows no cue (Anki's phones hide
#   scrollbars until touched, so the style must draw one: a shadow on the hidden side);
# - split-word: a word of a table cell broken across lines;
# - small-text: text under 14 px; contrast: text under 4.5:1 on what it is drawn on;
# - mathjax-error: a formula MathJax could not read; raw-math: a formula left untypeset;
# - raw-tag, tag-line: Anki tags (`exam::...`) shown as text; a tag block taller than a
#   quarter of the answer side.
CHECK_JS = r"""
const MIN_FONT = 14, MIN_CONTRAST = 4.5;
function rgba(css) {
  const m = css.match(/rgba?\(([^)]+)\)/);
  if (!m) { return [0, 0, 0, 0]; }
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
}
function over(top, bottom) {
  const a = top[3];
  return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
}
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) { layers.push(c); if (c[3] >= 1) { break; } }
  }
  let colour = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) { colour = over(layers[i], colour); }
  return colour;
}
function luminance(c) {
  const f = v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
}
function contrast(a, b) {
  const x = luminance(a), y = luminance(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}
function ownText(el) {
  let text = "";
  el.childNodes.forEach(n => { if (n.nodeType === 3) { text += n.textContent; } });
  return text.trim();
}
function hasCue(el) {
  // A scroll shadow: gradients that stay with the content (attachment `local`) over ones
  // that stay with the box (`scroll`), so the hidden side is darkened until reached.
  const style = getComputedStyle(el);
  return style.backgroundImage.indexOf("gradient") >= 0
    && style.backgroundAttachment.indexOf("local") >= 0
    && style.backgroundAttachment.indexOf("scroll") >= 0;
}
function splitWord(el) {
  // A word of a table cell drawn on two lines (cells should wrap between words).
  for (const node of el.childNodes) {
    if (node.nodeType !== 3) { continue; }
    const words = /\S+/g;
    let match;
    while ((match = words.exec(node.textContent)) !== null) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
      if (tops.size > 1) { return match[0]; }
    }
  }
  return "";
}
const SKIP = new Set(["MJX-ASSISTIVE-MML", "SCRIPT", "STYLE"]);
const RAW_MATH = /\\\(|\\\[/;
const RAW_TAG = /\b(?:exam|kind|ankigen)::/;
const problems = [];
let texts = 0, widest = 0, smallest = 1e9, lowest = 1e9;
const scrolled = [], wrapped = [];
const cards = document.querySelectorAll(".sides > .card");
cards.forEach((card, index) => {
  const report = (check, detail) => problems.push([index, check, detail]);
  const box = card.getBoundingClientRect();
  widest = Math.max(widest, card.scrollWidth / card.clientWidth);
  if (card.scrollWidth > card.clientWidth + 1) {
    report("overflow", "the card scrolls sideways: " + card.scrollWidth + " px in "
      + card.clientWidth + " px");
  }
  function describe(el) {
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return "<" + el.tagName.toLowerCase() + (el.className && typeof el.className === "string"
      ? "." + el.className.trim().split(/\s+/).join(".") : "") + "> '" + text + "'";
  }
  // clip: the nearest ancestor that does not let its content overflow (or the card);
  // scrolling: whether that ancestor scrolls (its content is then reachable).
  function walk(el, clip, clipBox, scrolling) {
    if (SKIP.has(el.tagName)) { return; }
    const style = getComputedStyle(el);
    if (style.display === "none") { return; }
    const r = el.getBoundingClientRect();
    if (r.width > 0 && !scrolling) {
      if (r.right > clipBox.right + 1 || r.left < clipBox.left - 1) {
        const by = Math.round(Math.max(r.right - clipBox.right, clipBox.left - r.left));
        if (clip === card) {
          report("overflow", describe(el) + " is " + Math.round(r.width)
            + " px wide and sticks out of the card by " + by + " px");
        } else {
          report("cut-off", describe(el) + " is cut off by " + by + " px");
        }
      }
    }
    let next = [clip, clipBox, scrolling];
    if (el !== card && style.overflowX !== "visible") {
      const wider = el.scrollWidth > el.clientWidth + 1;
      const scrolls = style.overflowX === "auto" || style.overflowX === "scroll";
      if (wider && scrolls) {
        scrolled.push([index, describe(el) + " " + el.scrollWidth + " px in " + el.clientWidth]);
        if (!hasCue(el)) {
          report("no-scroll-cue", describe(el) + " scrolls (" + el.scrollWidth + " px in "
            + el.clientWidth + " px) with no visible cue");
        }
      }
      next = [el, r, scrolls];
    }
    const text = ownText(el);
    if ((text || el.tagName === "MJX-CONTAINER") && r.width > 0
        && style.visibility !== "hidden") {
      texts++;
      // Formulas keep TeX's script sizes (MathJax draws its glyphs with CSS, not text).
      const size = el.closest("mjx-container, math") ? 1e9 : parseFloat(style.fontSize);
      smallest = Math.min(smallest, size);
      if (size < MIN_FONT - 0.01) {
        report("small-text", describe(el) + " is " + size.toFixed(1) + " px");
      }
      const bg = background(el);
      const ratio = contrast(over(rgba(style.color), bg), bg);
      lowest = Math.min(lowest, ratio);
      if (ratio < MIN_CONTRAST) {
        report("contrast", describe(el) + " has a contrast of " + ratio.toFixed(2));
      }
      if (RAW_TAG.test(text)) { report("raw-tag", describe(el)); }
      if (el.closest("td, th")) {
        const split = splitWord(el);
        if (split) { report("split-word", "'" + split + "' is broken across lines in a table"); }
      }
      if (RAW_MATH.test(text) && !el.closest("code, pre")) {
        report("raw-math", describe(el) + " was not typeset");
      }
    }
    if (el.tagName === "MJX-MATH") {
      let lines = 1, left = -Infinity;
      for (const part of el.children) {
        const at = part.getBoundingClientRect().left;
        if (at < left - 1) { lines++; }
        left = at;
      }
      if (lines > 1) {
        wrapped.push([index, describe(el.parentElement) + " on " + lines + " lines"]);
      }
    }
    if (el.tagName === "MJX-MERROR" || (el.hasAttribute && el.hasAttribute("data-mjx-error"))) {
      report("mathjax-error", (el.getAttribute("data-mjx-error") || "error") + " in '"
        + el.textContent.trim().slice(0, 60) + "'");
      return;
    }
    if (el.classList.contains("card-tags")
        && (card.dataset.side === "back" || card.classList.contains("back"))) {
      const answer = card.getBoundingClientRect().height;
      if (r.height > answer / 4) {
        report("tag-line", "the tag block is " + Math.round(r.height) + " px high on an answer "
          + "side of " + Math.round(answer) + " px");
      }
    }
    for (const child of el.children) { walk(child, next[0], next[1], next[2]); }
  }
  walk(card, card, box, false);
});
return {
  problems: problems, sides: cards.length, texts: texts, scrolled: scrolled, wrapped: wrapped,
  formulas: document.querySelectorAll("mjx-container").length,
  widest: widest, smallest: smallest, lowest: lowest
};
"""


def check_page(
    driver: WebDriver, page: Path, sides: Sequence[CardSide], *, reload: bool = True
) -> Report:
    """Open ``page`` (written by :func:`card_page` for ``sides``, or any page whose
    ``.sides > .card`` elements are ``sides``) at the current viewport, wait for MathJax
    if the page has it, and measure every side. ``reload=False`` measures the page
    already open."""
    if reload:
        driver.get("about:blank")
        driver.get(page.as_uri())
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "(window.ankigenReady || Promise.resolve('ok')).then(done);"
    )
    if status != "ok":
        raise AssertionError(status)
    raw = driver.execute_script(CHECK_JS)
    problems = tuple(
        Problem(index, sides[index].label, sides[index].side, check, detail)
        for index, check, detail in raw["problems"]
    )
    return Report(
        problems=problems,
        sides=raw["sides"],
        texts=raw["texts"],
        formulas=raw["formulas"],
        scrolled=tuple(f"{sides[i].label} ({sides[i].side}): {d}" for i, d in raw["scrolled"]),
        wrapped=tuple(f"{sides[i].label} ({sides[i].side}): {d}" for i, d in raw["wrapped"]),
        widest=raw["widest"],
        smallest_text=raw["smallest"],
        lowest_contrast=raw["lowest"],
    )


def summary(report: Report, limit: int = 30) -> str:
    """The problems, counted by check, then the first ``limit`` of them."""
    lines = [f"{len(report.problems)} problems: {report.by_check()}"]
    lines += [str(p) for p in report.problems[:limit]]
    return "\n".join(lines)
