"""Property-based: any text, and near-valid notes, give inert cards or located diagnostics.

Whatever a note file holds, the pipeline never crashes, every problem is a located
diagnostic with a known code, and every field it renders is inert (``tests/inert.py``).

The normal suite runs a few hundred examples. The long run (10,000 examples of each
property) is marked ``fuzz`` and documented in the README:
``.venv/bin/pytest -m fuzz -p no:cacheprovider``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ankigen.cards import KINDS
from ankigen.diagnostics import CODES, Diagnostic
from ankigen.discover import decode

from .conftest import run_text
from .inert import active_content

LONG = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,  # the long runs explore; the normal suite is repeatable (conftest)
)
SHORT = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

_PIECES = [
    *"#*-_`$\\[]()<>!:|{}&;/=\"' \t\n>+0123456789",
    "\r\n", "**", "$$", "```", "- ", "## ", "---\n", "\ufeff", "\x00", "é", "😀", "    ",
    "<script>", "javascript:", "&#x61;", "\\(", "\\]", "{{Front}}", "::", "[sound:a.mp3]",
    "[anki:tts]", "[latex]", "[$]", "[[type:", "\\begin{x}", "\\href", "<!--", "](", "![",
]  # fmt: skip
markdown = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=4)), max_size=60).map(
    "".join
)
_LABELS = [
    *sorted({f.label for k in KINDS.values() for f in k.fields}),
    "Tags", "Deck", "Renamed from", "Bogus", "",
]  # fmt: skip
_VALUES = [
    r"$\frac{a}{b}$", "$$x^2$$", "$\\left( x$", "`code $x$`", "<b>x</b>", "![i](../media/x.svg)",
    "![r](https://e.example/x.png)", "[l](javascript:x)", "costs $5", "\\$",
    "[d]\n\n  [d]: javascript:alert(1)", "`[sound:x.mp3]`", "![[sound:a]](../media/x.svg)",
    '[t](https://a.example "[sound:t]")', "$\\href{javascript:x}{y}$", "\\\\(x\\\\)",
    "\n\n  ```py\n  x\n  ```",
    "\n  - a\n  - b", "exam::MLS-C01::D3-Modeling::3.5", "metric/other",
]  # fmt: skip
values = st.one_of(markdown, st.sampled_from(_VALUES))
keys = st.one_of(
    st.sampled_from([f"{k}/x" for k in KINDS] + ["metrik/y", "Bad Key", "", "`qa/q`"]),
    st.text(max_size=12),
)
note = st.builds(
    lambda key, items, tail: (
        f"## {key}\n\n" + "".join(f"- **{label}:** {value}\n" for label, value in items) + tail
    ),
    keys,
    st.lists(st.tuples(st.sampled_from(_LABELS), values), max_size=8),
    st.one_of(st.just(""), markdown),
)
_TAGS = [
    "exam::MLS-C01::D3-Modeling::3.5", "exam::MLA-C01::D2-Model-Development", "exam::X::Y",
    "bad tag", "exam::AIF-C01::D9", "kind::x", "",
]  # fmt: skip
front = st.one_of(
    st.just(""),
    st.builds(
        lambda tags, deck: f"---\n{deck}tags: [{', '.join(tags)}]\n---\n\n",
        st.lists(st.sampled_from(_TAGS), max_size=3),
        st.sampled_from(["", "deck: Metrics\n", "deck: a::::b\n", "colour: red\n"]),
    ),
)
documents = st.builds(lambda f, notes: f + "\n".join(notes), front, st.lists(note, max_size=4))


_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><path d="M0 0h1"/></svg>'


_MEDIA = Path(tempfile.mkdtemp(prefix="ankigen-fuzz-media-"))


def _pipeline(text: str) -> None:
    result = run_text(text, {"x.svg": _SVG}, _MEDIA)
    for diagnostic in result.diagnostics:
        assert isinstance(diagnostic, Diagnostic)
        assert diagnostic.code in CODES
        assert diagnostic.location.line >= 1 and diagnostic.location.column >= 1
        assert diagnostic.format().startswith("cards_src/topic.md:")
    for note in result.notes:
        values = note.values()
        assert all(values[i] for i, f in enumerate(note.kind.fields) if f.required)
        for value in values:
            if value is not None:
                assert active_content(value.html) == [], value.html


def _bytes(data: bytes) -> None:
    text, problem = decode(data, "f.md")
    if text is None:
        assert problem is not None and problem.code == "not-utf8"
    else:
        _pipeline(text)


CASES: list[tuple[str, st.SearchStrategy[object], Callable[[object], None]]] = [
    ("markdown", markdown, _pipeline),  # type: ignore[list-item]
    ("near-valid-notes", documents, _pipeline),  # type: ignore[list-item]
    ("bytes", st.binary(max_size=400), _bytes),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("name", "strategy", "check"), CASES, ids=[c[0] for c in CASES])
def test_never_crashes(
    name: str, strategy: st.SearchStrategy[object], check: Callable[[object], None]
) -> None:
    SHORT(given(strategy)(check))()


@pytest.mark.fuzz
@pytest.mark.parametrize(("name", "strategy", "check"), CASES, ids=[c[0] for c in CASES])
def test_never_crashes_long_run(
    name: str, strategy: st.SearchStrategy[object], check: Callable[[object], None]
) -> None:
    LONG(given(strategy)(check))()
