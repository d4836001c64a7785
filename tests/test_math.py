"""Math and code: `$...$` / `$$...$$` become MathJax delimiters, and code is never touched."""

from __future__ import annotations

import pytest

from ankigen.parse import parse_text

FRONT = "---\ntags: [exam::MLS-C01::D3-Modeling::3.5]\n---\n\n## concept/x\n\n- **Term:** X\n"


def _explanation(markdown: str) -> tuple[str, list[str]]:
    source, problems = parse_text(FRONT + f"- **Explanation:** {markdown}\n", "t.md")
    (note,) = source.notes
    return note.fields[1].html, [d.code for d in problems]


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        (r"$\frac{a}{b}$", r"\(\frac{a}{b}\)"),
        (r"$a<b$ and $c>d$", r"\(a&lt;b\) and \(c&gt;d\)"),
        (r"$a \& b$, $x_i * y_i * z$", r"\(a \&amp; b\), \(x_i * y_i * z\)"),
        (r"$$\begin{pmatrix}1&2\\3&4\end{pmatrix}$$",
         r'<span class="math display">\[\begin{pmatrix}1&amp;2\\3&amp;4\end{pmatrix}\]</span>'),
        (r"$\{x\}$", r"\(\{x\}\)"),
        (r"costs \$5", "costs $5"),
        ("costs $5 and $10", "costs $5 and $10"),
        ("`$x$` stays code", "<code>$x$</code> stays code"),
        ("costs $5 and `$x$`", "costs $5 and <code>$x$</code>"),
        ("`a < b` & c", "<code>a &lt; b</code> &amp; c"),
        (r"$\text{**not bold**}$", r"\(\text{**not bold**}\)"),
    ],
)  # fmt: skip
def test_math_and_code(markdown: str, html: str) -> None:
    assert _explanation(markdown) == (html, [])


def test_fenced_code_keeps_dollars() -> None:
    html, problems = _explanation('code:\n\n  ```python\n  cost = "$x$"\n  ```\n')
    assert problems == []
    assert '<pre class="highlight"><code>' in html
    assert '<span class="s2">"$x$"</span>' in html and r"\(" not in html


@pytest.mark.parametrize(
    "markdown",
    [r"$\frac{a}{b$", r"$x$ and $ y", r"$$\begin{cases} a \end{matrix}$$", r"$\left( x$"],
)
def test_malformed_math(markdown: str) -> None:
    assert "malformed-math" in _explanation(markdown)[1]
