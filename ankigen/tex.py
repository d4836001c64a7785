"""The TeX a formula may use: an allow list of commands and environments, and balance checks.

Anki typesets math with MathJax, which also understands commands that make links
(``\\href``), set styles and classes (``\\style``, ``\\class``, ``\\cssId``), insert HTML
(``\\html``, ``\\data``), load extensions (``\\require``) or define macros. A formula
in a note may use only the commands below, which are what study notes need; anything
else is refused where it is written.
"""

from __future__ import annotations

import re

_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega "
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
)
_COMMANDS = frozenset(
    (
        _GREEK + " "
        # structure
        "frac dfrac tfrac cfrac sqrt binom dbinom tbinom left right middle big Big bigg Bigg "
        "bigl bigr Bigl Bigr biggl biggr Biggl Biggr begin end limits nolimits displaystyle "
        "textstyle scriptstyle overline underline overbrace underbrace overset underset "
        "stackrel hat widehat bar tilde widetilde vec dot ddot check acute grave breve "
        # text and fonts
        "text textbf textit textrm textsf texttt mathrm mathbf mathit mathsf mathtt mathcal "
        "mathbb mathfrak boldsymbol operatorname "
        # operators
        "sum prod coprod int iint iiint oint lim limsup liminf sup inf max min argmax argmin "
        "log ln lg exp sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh det dim "
        "ker deg gcd Pr mod bmod pmod "
        # relations and symbols
        "cdot times div pm mp ast star circ bullet oplus otimes odot leq geq le ge neq ne "
        "approx sim simeq cong equiv propto ll gg prec succ in notin ni subset subseteq "
        "supset supseteq cup cap setminus emptyset varnothing forall exists nexists neg lnot "
        "land lor wedge vee to gets rightarrow leftarrow Rightarrow Leftarrow leftrightarrow "
        "Leftrightarrow longrightarrow Longrightarrow implies iff mapsto uparrow downarrow "
        "infty partial nabla prime ell hbar Re Im aleph top bot perp parallel mid nmid "
        "angle triangle square lvert rvert lVert rVert vert Vert lfloor rfloor lceil rceil "
        "langle rangle lbrace rbrace backslash dots ldots cdots vdots ddots colon "
        "quad qquad hspace intercal transpose checkmark"
    ).split()
)
#: Environments ``\\begin{...}`` may open.
_ENVIRONMENTS = frozenset(
    {
        "matrix", "pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix",
        "cases", "aligned", "gathered", "split", "array",
    }
)  # fmt: skip
#: Single characters that may follow a backslash (spacing, escaped specials, line break).
_SYMBOLS = frozenset(",;:! \\{}|%$#&_")
_COMMAND = re.compile(r"\\([A-Za-z]+|.?)", re.DOTALL)
_BEGIN = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}")
_ENVIRONMENT = re.compile(r"\s*\{([A-Za-z]+\*?)\}")


def unsafe_command(latex: str) -> str | None:
    """The first command, environment or macro parameter outside the allow list, as
    written, or None. Read left to right as TeX reads it: ``\\#`` is a literal ``#``, a
    ``#`` anywhere else a macro parameter; ``\\begin`` must name an allowed environment
    in braces."""
    at = 0
    while at < len(latex):
        char = latex[at]
        if char == "#":
            return "#"
        if char != "\\":
            at += 1
            continue
        match = _COMMAND.match(latex, at)
        assert match is not None
        name = match.group(1)
        at = match.end()
        if not name or not (name in _COMMANDS or (len(name) == 1 and name in _SYMBOLS)):
            return "\\" + name
        if name in ("begin", "end"):
            environment = _ENVIRONMENT.match(latex, at)
            if environment is None or environment.group(1).rstrip("*") not in _ENVIRONMENTS:
                return f"\\{name}{latex[at : at + 20]}"
            at = environment.end()
    return None


def math_problem(latex: str) -> str | None:
    """Describe what is malformed in a LaTeX snippet, or return None.

    Checks what breaks MathJax silently on a phone: unbalanced braces, ``\\begin``/``\\end``
    pairs and ``\\left``/``\\right`` pairs.
    """
    if not latex.strip():
        return "empty math"
    depth = 0
    i = 0
    while i < len(latex):
        char = latex[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return "unbalanced braces in math: a '}' has no matching '{'"
        i += 1
    if depth:
        return f"unbalanced braces in math: {depth} '{{' not closed"
    stack: list[str] = []
    for match in _BEGIN.finditer(latex):
        kind, name = match.groups()
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            return f"math has \\end{{{name}}} without a matching \\begin{{{name}}}"
    if stack:
        return f"math has \\begin{{{stack[-1]}}} without \\end{{{stack[-1]}}}"
    lefts = len(re.findall(r"\\left(?![a-zA-Z])", latex))
    rights = len(re.findall(r"\\right(?![a-zA-Z])", latex))
    if lefts != rights:
        return f"math has {lefts} \\left but {rights} \\right"
    return None
