"""Math and code: `$...$` / `$$...$$` become MathJax delimiters, and code is never touched."""

from __future__ import annotations

import pytest

from .conftest import field

# Braces and brackets in math are character references: MathJax reads the page's text, in
# which they are decoded, while Anki's own bracket syntaxes never match them.
L, R = "&#123;", "&#125;"


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        (r"$\frac{a}{b}$", rf"\(\frac{L}a{R}{L}b{R}\)"),
        (r"$a<b$ and $c>d$", r"\(a&lt;b\) and \(c&gt;d\)"),
        (r"$a \& b$, $x_i * y_i * z$", r"\(a \&amp; b\), \(x_i * y_i * z\)"),
        (r"$$\begin{pmatrix}1&2\\3&4\end{pmatrix}$$",
         rf'<span class="math display">\[\begin{L}pmatrix{R}1&amp;2\\3&amp;4'
         rf'\end{L}pmatrix{R}\]</span>'),
        (r"$\{x\}$", rf"\(\{L}x\{R}\)"),
        (r"costs \$5", "costs $5"),
        ("costs $5 and $10", "costs $5 and $10"),
        ("`$x$` stays code", "<code>$x$</code> stays code"),
        ("costs $5 and `$x$`", "costs $5 and <code>$x$</code>"),
        ("`a < b` & c", "<code>a &lt; b</code> &amp; c"),
        (r"$\text{**not bold**}$", rf"\(\text{L}**not bold**{R}\)"),
    ],
)  # fmt: skip
def test_math_and_code(markdown: str, html: str) -> None:
    assert field(markdown) == (html, [])


def test_fenced_code_keeps_dollars() -> None:
    html, problems = field('code:\n\n  ```python\n  cost = "$x$"\n  ```\n')
    assert problems == []
    assert '<pre class="highlight"><code>' in html
    assert '<span class="s2">"$x$"</span>' in html and r"\(" not in html


@pytest.mark.parametrize(
    "markdown",
    [r"$\frac{a}{b$", r"$x$ and $ y", r"$$\begin{cases} a \end{matrix}$$", r"$\left( x$"],
)
def test_malformed_math(markdown: str) -> None:
    assert "malformed-math" in field(markdown)[1]


@pytest.mark.parametrize(
    "command",
    [r"\href{javascript:alert(1)}{x}", r"\style{position:fixed}{x}", r"\class{a}{x}",
     r"\cssId{a}{x}", r"\unicode{x41}", r"\require{html}", r"\html{x}", r"\url{x}",
     r"\data{a=1}{x}", r"\def\x{y}", r"\newcommand{\x}{y}", r"\color{red}{x}", r"\mmlToken{mi}{x}",
     r"\begin{equation}x\end{equation}", r"\(x\)", r"#1", r"\verb|x|", r"\bbox[red]{x}",
     r"\\#1", r"\begin x", r"\text{\(\href{javascript:x}{y}\)}"],
)  # fmt: skip
def test_math_outside_the_allow_list_is_refused(command: str) -> None:
    assert field(f"${command}$")[1] == ["unsafe-math"]
    assert field(f"$${command}$$")[1] == ["unsafe-math"]


def test_formulas_the_deck_uses_are_allowed() -> None:
    formula = (
        r"F_1 = \dfrac{2 \cdot \text{precision} \cdot \text{recall}}{\text{precision} + "
        r"\text{recall}}, \quad \hat{y} = \sigma\left(\sum_{i=1}^{n} w_i x_i\right) \le \infty"
    )
    assert field(f"$${formula}$$")[1] == []
