"""Property-based: any text, and near-valid notes, give cards or located diagnostics, never a crash.

The normal suite runs a few hundred examples. The long run (10,000 examples of each
property) is marked ``fuzz`` and documented in the README:
``.venv/bin/pytest -m fuzz -p no:cacheprovider``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ankigen.cards import KINDS
from ankigen.diagnostics import CODES, Diagnostic
from ankigen.parse import MediaProblem, decode, parse_text
from ankigen.validate import validate

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
    "<script>", "javascript:", "&#x61;", "\\(", "\\]", "{{Front}}", "::",
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


def _resolver(src: str) -> str:
    if src.endswith(".svg") and "://" not in src:
        return "x.0123456789ab.svg"
    raise MediaProblem("missing-media", "not found")


def _pipeline(text: str) -> None:
    source, problems = parse_text(text, "f.md", _resolver)
    notes, more = validate([source])
    for diagnostic in [*problems, *more]:
        assert isinstance(diagnostic, Diagnostic)
        assert diagnostic.code in CODES
        assert diagnostic.location.line >= 1 and diagnostic.location.column >= 1
        assert diagnostic.format().startswith("f.md:")
    if not problems and not more:
        for built in notes:
            values = built.field_values()
            assert all(values[i] for i, f in enumerate(built.kind.fields) if f.required)


def _bytes(data: bytes) -> None:
    text, problems = decode(data, "f.md")
    if text is None:
        assert [d.code for d in problems] == ["not-utf8"]
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
