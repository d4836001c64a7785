"""The parser: markdown-it's token stream, and the plain-text shortcut held against it.

Inline runs of plain text get their tokens without markdown-it's inline rules
(``parse._plain_children``). A differential property test shows the token stream is
identical to markdown-it's own on generated documents, whose generator produces what
disagreed with a former hand-written parser: reference definitions, tabs after ``##``,
bare ``##`` lines, front-matter closers, entities, escapes. The long run is marked
``fuzz`` (10,000 examples): ``.venv/bin/pytest -m fuzz -p no:cacheprovider``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ankigen.parse import MARKDOWN, build_markdown

from .conftest import run_text

REFERENCE = build_markdown(plain_text_shortcut=False)
LONG = settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=False)  # fmt: skip
SHORT = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))

_WORDS = ["word", "Label", "a", "x-y", "(b)", "c/d", "e.", "f,", "g:", "'h'", "42", "é", "😀"]
_MARKUP = ["*", "**", "_", "`", "\\", "[", "]", "!", "<", ">", "&", "&amp;", "&#106;", "$",
           "~", "~~", "\t", "  ", "\n", "\n  ", "|", "{", "}", "#", ":", "-",
           "http://x.example"]  # fmt: skip
_LINES = [
    "## qa/x", "##\tqa/tab", "##", "## ", "# Title", "---", "...", "+++", "- **Name:** ",
    "- **Answer:**", "  [docs]: https://docs.aws.amazon.com/", "  [bad]: javascript:alert(1)",
    "[ref]: https://example.com", "See [docs] and [bad].", "  continuation", "", "| a | b |",
    "|---|---|", "```", "    indented code", "> quote", "1. one", "  - sub", "$$x^2$$",
]  # fmt: skip
runs = st.lists(st.sampled_from(_WORDS + _MARKUP + [" "]), max_size=12).map("".join)
label = st.sampled_from(["Name", "Use when", "Not to confuse with", "Range (x)", "A/B", "x"])
items = st.builds(lambda lab, colon, text: f"- **{lab}{colon}** {text}", label,
                  st.sampled_from([":", ":", ""]), runs)  # fmt: skip
lines = st.one_of(st.sampled_from(_LINES), items, runs)
documents = st.builds(
    lambda front, body: front + "\n".join(body),
    st.sampled_from(["", "---\ndeck: A\n---\n", "---\ntags: [x]\n...\n", "---\n---\n\n"]),
    st.lists(lines, max_size=25),
)


def same_tokens(text: str) -> None:
    assert MARKDOWN.parse(text, {}) == REFERENCE.parse(text, {})


@given(documents)
@SHORT
def test_shortcut_tokens_are_markdown_its(text: str) -> None:
    same_tokens(text)


@pytest.mark.fuzz
@given(documents)
@LONG
def test_shortcut_tokens_are_markdown_its_long_run(text: str) -> None:
    same_tokens(text)


@pytest.mark.parametrize(
    "text",
    ["- **Name:** F1 score, a (b) c/d - e: f.", "- **Name:**", "## metric/f1-score",
     "- **Name:** trailing space ", "- **A:** x\n  y", "- **Name:**  two spaces",
     "| **A:** b | c |\n|---|---|\n| d | e |", "**Label:**after"],
)  # fmt: skip
def test_shortcut_shapes(text: str) -> None:
    same_tokens(text)


FRONT = "---\ntags: [exam::MLA-C01::D2-Model-Development::2.1]\n---\n\n"


def test_a_bare_heading_before_the_first_note_is_a_bad_key() -> None:
    result = run_text(FRONT + "##\n\n## qa/x\n\n- **Question:** Q?\n- **Answer:** A.\n")
    assert [(d.location.line, d.code) for d in result.diagnostics] == [(5, "bad-key")]


def test_a_reference_in_a_later_items_continuation_lines_is_a_link() -> None:
    text = FRONT + (
        "## qa/x\n\n- **Question:** Where?\n- **Answer:** In [docs].\n\n"
        "  [docs]: https://docs.aws.amazon.com/\n"
    )
    (note,) = run_text(text).notes
    answer = note.values()[1]
    assert answer is not None
    assert answer.html == 'In <a href="https://docs.aws.amazon.com/">docs</a>.'


def test_a_javascript_reference_definition_is_refused() -> None:
    text = FRONT + (
        "## qa/x\n\n- **Question:** Where?\n- **Answer:** In [docs].\n\n"
        "  [docs]: javascript:alert(1)\n"
    )
    result = run_text(text)
    assert [d.code for d in result.diagnostics] == ["unsafe-link"]
    assert result.notes == ()


def test_a_tab_after_the_hashes_is_a_heading_as_markdown_it_reads_it() -> None:
    (note,) = run_text(FRONT + "##\tqa/x\n\n- **Question:** Q?\n- **Answer:** A.\n").notes
    assert note.key == "qa/x"
