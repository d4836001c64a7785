"""The fast path of the parser gives exactly what the full markdown-it parse gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ankigen.parse as parse_module
from ankigen.media import MediaCollector
from ankigen.parse import parse_text

from .conftest import CASES, REAL_SOURCES
from .test_fuzz import LONG, documents, markdown

FILES = sorted(
    p for root in (REAL_SOURCES, CASES) for p in root.rglob("*.md") if p.name != "README.md"
)


def _both(path: Path) -> tuple[object, object]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    root = next(p for p in path.parents if (p / "media").is_dir() or p in (REAL_SOURCES, CASES))
    fast = parse_text(text, "f.md", MediaCollector(root).resolver(path), fast=True)
    full = parse_text(text, "f.md", MediaCollector(root).resolver(path), fast=False)
    return fast, full


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(p.parents[2])) for p in FILES])
def test_fast_equals_full_on_every_file(path: Path) -> None:
    fast, full = _both(path)
    assert fast == full


def test_fast_path_is_taken_for_the_real_deck(monkeypatch: pytest.MonkeyPatch) -> None:
    fallbacks: list[str] = []
    real_scan = parse_module._fast_scan

    def counting(walker: parse_module._FileWalker) -> None:
        try:
            real_scan(walker)
        except parse_module._Fallback:
            fallbacks.append(walker.path)
            raise

    monkeypatch.setattr(parse_module, "_fast_scan", counting)
    for path in (p for p in REAL_SOURCES.rglob("*.md") if p.name != "README.md"):
        parse_text(path.read_text(encoding="utf-8"), str(path))
    assert fallbacks == []


def _same(text: str) -> None:
    def resolver(src: str) -> str:
        return "x.0123456789ab.svg"

    fast = parse_text(text, "f.md", resolver, fast=True)
    assert fast == parse_text(text, "f.md", resolver, fast=False)


def _same_note(key: str, body: str) -> None:
    _same(f"---\ntags: [exam::MLS-C01::D3-Modeling::3.5]\n---\n\n## {key}\n\n{body}")


def _same_value(value: str) -> None:
    """One concept note whose explanation is ``value``: fast and full parse agree."""
    _same_note("concept/x", f"- **Term:** X\n- **Explanation:** {value}\n")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents)
def test_fast_equals_full_on_generated_notes(text: str) -> None:
    _same(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(markdown)
def test_fast_equals_full_on_arbitrary_text(text: str) -> None:
    _same(text)


@pytest.mark.fuzz
@LONG
@given(documents)
def test_fast_equals_full_long_run(text: str) -> None:
    _same(text)


_PROSE = st.text(alphabet="abc XYZ019.,:;()-/'\"=+#>", max_size=12)
_CODE = st.text(alphabet=" \tab<>&\"'$*_\\[]!|{}~#-", min_size=1, max_size=8)
code_values = st.lists(
    st.one_of(_PROSE, _CODE.map(lambda code: f"`{code}`"), st.sampled_from(["`", "``", "$"])),
    min_size=1,
    max_size=8,
).map("".join)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(code_values)
def test_fast_equals_full_on_values_with_code_spans(value: str) -> None:
    """Values whose only markup is code spans are rendered without markdown-it."""
    _same_value(value)


_LATEX = st.text(alphabet=" ab12\\{}_^<&*`$()-=", min_size=0, max_size=8)
_STRONG_TEXT = st.text(alphabet="ab1 ()-.*$_", min_size=0, max_size=6)
_EDGES = st.sampled_from(["$", "$$", "*", "**", "\\", "1", " ", "(", ")", "x", "`a`", "_"])
#: Anything goes: mostly values the fast tier must refuse.
wild_markup_values = st.lists(
    st.one_of(
        _PROSE,
        _LATEX.map(lambda latex: f"${latex}$"),
        _LATEX.map(lambda latex: f"$${latex}$$"),
        _STRONG_TEXT.map(lambda text: f"**{text}**"),
        _EDGES,
    ),
    min_size=1,
    max_size=8,
).map("".join)
_GOOD_LATEX = st.text(alphabet=" ab12\\_^<&*()=+", min_size=1, max_size=8) | st.text(
    alphabet="ab1\\_^ ", max_size=4
).map(lambda latex: f"\\frac{{a}}{{{latex}}}")
_GOOD_STRONG = st.text(alphabet="ab1 ()-.", max_size=6).map(lambda text: f"a{text}1")
#: Mostly well-formed spans in varied company: a fifth or so take the fast tier.
markup_values = st.lists(
    st.tuples(
        st.sampled_from([" ", " ", ", ", "(", ") ", "", "1", ". "]),
        st.one_of(
            _PROSE,
            _GOOD_LATEX.map(lambda latex: f"${latex}$"),
            _GOOD_LATEX.map(lambda latex: f"$${latex}$$"),
            (_GOOD_STRONG | _STRONG_TEXT).map(lambda text: f"**{text}**"),
            _EDGES,
        ),
    ).map("".join),
    min_size=1,
    max_size=6,
).map("".join)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(wild_markup_values)
def test_fast_equals_full_on_wild_math_and_strong(value: str) -> None:
    _same_value(value)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(markup_values)
def test_fast_equals_full_on_values_with_math_and_strong(value: str) -> None:
    """Values of prose, math and strong spans are rendered without markdown-it."""
    _same_value(value)


@pytest.mark.fuzz
@LONG
@given(markup_values)
def test_fast_equals_full_on_math_and_strong_long_run(value: str) -> None:
    _same_value(value)


@pytest.mark.parametrize(
    "value",
    [
        "the **key** idea, $x_i$ and $$\\frac{a}{b}$$.",
        "$a$$b$",
        "$$a$$$b$",
        "**a**$x$",
        "$x$**a**",
        "2$x$",
        "$x$2",
        "$ x$",
        "$x $",
        "$$ x $$",
        "$x\\$",
        "a**b**c",
        "(**b**)",
        "**b**:",
        "$\\frac{a}{b$",
        "$$ $$",
        "**a** **b**",
        "***a***",
        "$`a`$",
        "**a $b$ c**",
        "-$x$",
        "#$x$",
    ],
)
def test_fast_equals_full_on_math_and_strong_edges(value: str) -> None:
    _same_value(value)


def test_math_and_strong_values_skip_markdown_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commonest marked-up values take the fast tier (else this speed-up is lost)."""
    calls: list[str] = []
    real = parse_module._MD.parseInline
    monkeypatch.setattr(
        parse_module._MD, "parseInline", lambda src, env=None: calls.append(src) or real(src, env)
    )
    text = (
        "## concept/x\n\n- **Term:** X\n- **Explanation:** a **key** idea, $x_i < 1$ and\n"
        "- **Formula:** $$\\frac{TP}{TP + FP}$$\n"
    )
    (source, problems) = parse_text(text, "f.md")
    assert problems == [] and calls == []
    html = [f.html for f in source.notes[0].fields]
    assert html[1:] == [
        "a <strong>key</strong> idea, \\(x_i &lt; 1\\) and",
        '<span class="math display">\\[\\frac{TP}{TP + FP}\\]</span>',
    ]


_SUB_CONTENT = st.one_of(
    code_values,
    _PROSE,
    st.sampled_from(
        ["1. one", "2) two", "# head", "> quote", "+ plus", "- dash", "* star", " lead",
         "", "tail  ", "[ ] task", "<b>x</b>", "&amp;", "    code", "a\\\\", "x_y_z", "$5"]
    ),
)  # fmt: skip
_SUB_LINE = st.one_of(
    _SUB_CONTENT.map(lambda content: f"  - {content}"),
    st.sampled_from(["", "    - deeper", "  continued", "  1. ordered", "  * star item"]),
)
sublist_items = st.builds(
    lambda head, lines, after: f"- **Formats:**{head}\n" + "\n".join(lines) + "\n" + after,
    st.sampled_from(["", " ", "  ", " x", ":"]),
    st.lists(_SUB_LINE, min_size=1, max_size=6),
    st.sampled_from(["", "- **Use when:** later\n", "\n- **Use when:** later\n"]),
)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(sublist_items)
def test_fast_equals_full_on_sublists(item: str) -> None:
    """A label over a list of simple values is rendered without markdown-it."""
    _same_note("algorithm/x", f"- **Name:** X\n{item}")


@pytest.mark.parametrize(
    "items",
    [
        # A blank line between items makes the list loose: an item's own paragraphs then
        # render with <p>, which an item parsed on its own (tight) did not give.
        "- **Formats:**\n  - # head\n  continued\n\n- **Use when:** later\n",
        "- **Use when:** first\n\n- **Formats:** a\n\n  more\n- **Avoid when:** b\n  c\n",
        "- **Formats:** a\n  more\n- **Avoid when:** b\n\n  c\n",
    ],
)
def test_fast_equals_full_on_loose_lists(items: str) -> None:
    _same_note("algorithm/x", f"- **Name:** X\n{items}")


@pytest.mark.parametrize(
    "text",
    [
        "## metric/x\n\n\x0c",  # found by the fuzzer: a form feed is not a blank line
        "## concept/x\n\n- **Term:** a\xa0\n\x0b\n- **Explanation:** b\u2003\n",
    ],
)
def test_fast_equals_full_on_odd_whitespace(text: str) -> None:
    _same(text)
