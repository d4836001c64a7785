"""Markdown file -> source notes with locations. The only module that walks markdown-it tokens.

It owns the one configured :class:`MarkdownIt` instance, turns each field's Markdown into
HTML exactly once, and reports what it cannot accept (raw HTML, unsafe links, remote
images, malformed math, content outside fields) as located diagnostics. Lines are
1-based from here on: markdown-it's 0-based ``Token.map`` is converted only in
:func:`_line`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_inline_dollar
from mdit_py_plugins.front_matter import front_matter_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from ankigen.diagnostics import Diagnostic, Location

#: Resolves an image path written in a note to the file name it has in the package;
#: raises :class:`MediaProblem` when the image cannot be used.
MediaResolver = Callable[[str], str]


class MediaProblem(Exception):
    """An image a note refers to cannot be shipped; the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


FRONT_MATTER_KEYS = ("deck", "tags")
#: markdown-it stops parsing (and silently drops the rest) past this many nested blocks;
#: a file that comes close is refused instead.
MAX_NESTING = 20
#: Larger files are refused: a topic file is a few kilobytes, and size is a cheap attack.
MAX_FILE_BYTES = 4 * 1024 * 1024
_SAFE_LINK_SCHEMES = ("http:", "https:", "mailto:")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_STRAY_DOLLAR = re.compile(r"\$(?![0-9])")


@dataclass(frozen=True, slots=True)
class Located:
    """A string from the source and where it was written."""

    value: str
    """The text."""
    location: Location
    """Where it starts."""


@dataclass(frozen=True, slots=True)
class SourceField:
    """One labelled item of a note's field list."""

    label: Located
    """The label as written, without its colon."""
    html: str
    """The value rendered to HTML (math as ``\\(...\\)`` / ``\\[...\\]``)."""
    text: str
    """The value as plain text, for comparisons and tag lists."""
    location: Location
    """Where the item's bullet is."""
    media: tuple[str, ...] = ()
    """Package file names of the images the value shows."""
    refused: bool = False
    """Part of the value was refused with a diagnostic (so an empty value is no news)."""


@dataclass(frozen=True, slots=True)
class SourceNote:
    """A note as written: its key and its labelled fields, not yet checked."""

    key: Located
    """The heading text that names the note."""
    fields: tuple[SourceField, ...]
    """Field items in source order."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One parsed Markdown file."""

    path: str
    """The file as shown in diagnostics."""
    deck: Located | None
    """The ``deck:`` front matter value, if any."""
    tags: tuple[Located, ...]
    """The ``tags:`` front matter values."""
    notes: tuple[SourceNote, ...]
    """Notes in source order."""


_ENV_KEY = "ankigen"


@dataclass(slots=True)
class _Env:
    """Per-file state handed to the renderer and collected by the walker."""

    resolve_media: MediaResolver | None
    media: list[str] = field(default_factory=list)
    media_problems: list[tuple[str, MediaProblem]] = field(default_factory=list)


def _math_inline_without_code(
    rule: Callable[[StateInline, bool], bool],
) -> Callable[[StateInline, bool], bool]:
    """Wrap the dollar rule so inline math never spans a backtick.

    Without this, ``costs $5 and `$x$``` pairs the prose dollar with one inside the code
    span and mangles the code. LaTeX has no use for backticks, so refusing them is safe.
    """

    def wrapped(state: StateInline, silent: bool) -> bool:
        start, count, pending = state.pos, len(state.tokens), state.pending
        if not rule(state, silent):
            return False
        if "`" in state.src[start : state.pos]:
            del state.tokens[count:]  # the math token and the pending text it flushed
            state.pos, state.pending = start, pending
            return False
        return True

    return wrapped


def _render_math_inline(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    return rf"\({escapeHtml(tokens[idx].content.strip())}\)"


def _render_math_display(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    # A span (styled as a block) so that display math inside a paragraph stays valid HTML.
    latex = escapeHtml(tokens[idx].content.strip())
    html = rf'<span class="math display">\[{latex}\]</span>'
    return f"<p>{html}</p>\n" if tokens[idx].block else html


def _render_text_special(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    return escapeHtml(tokens[idx].content)


def _render_html_as_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    # Raw HTML is reported as an error; should it ever reach rendering, it stays inert text.
    return escapeHtml(tokens[idx].content)


def _render_link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    # Unsafe links are reported as errors; should one ever reach rendering, it has no href.
    href = str(tokens[idx].attrGet("href") or "")
    if _SCHEME.match(href) and not href.lower().startswith(_SAFE_LINK_SCHEMES):
        return "<a>"
    return self.renderToken(tokens, idx, options, env)


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    state = env.get(_ENV_KEY)
    assert isinstance(state, _Env), "render through _FileWalker only"
    try:
        if state.resolve_media is None:
            raise MediaProblem("missing-media", "images are not available here")
        packaged = state.resolve_media(src)
    except MediaProblem as problem:
        state.media_problems.append((src, problem))
        return ""
    state.media.append(packaged)
    alt = self.renderInlineAsText(token.children or [], options, env)
    # Diagrams (SVG) are drawn for a light background; the class lets night mode invert them.
    css_class = ' class="diagram"' if packaged.lower().endswith(".svg") else ""
    return f'<img src="{escapeHtml(packaged)}" alt="{escapeHtml(alt)}"{css_class}>'


_FORMATTER = HtmlFormatter(nowrap=True)


@functools.cache
def _lexer(language: str) -> Lexer:
    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


def _highlight(code: str, language: str, attrs: Any) -> str:
    """Highlight fenced code at build time with Pygments classes: no script on the card."""
    tokens = highlight(code, _lexer(language.strip().lower()), _FORMATTER)
    return f'<pre class="highlight"><code>{tokens}</code></pre>'


def build_markdown() -> MarkdownIt:
    """The one markdown-it configuration, with every choice spelled out.

    CommonMark plus GFM tables and strikethrough and ``$``/``$$`` math. Raw HTML is
    *parsed* (not rendered) so that it can be reported where it was written, and every
    link is accepted by the parser so that unsafe ones are reported rather than left as
    silent literal text. No typographer, no linkify.
    """
    md = MarkdownIt(
        "commonmark",
        {
            "html": True,
            "linkify": False,
            "typographer": False,
            "highlight": _highlight,
            "maxNesting": MAX_NESTING,
        },
    )
    md.enable(["table", "strikethrough"])
    md.use(front_matter_plugin)
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        double_inline=True,
    )
    md.inline.ruler.at(
        "math_inline", _math_inline_without_code(math_inline_dollar(False, False, True))
    )
    # Keep escapes and entities as separate tokens, so that `\$` is not taken for math.
    md.disable("text_join")
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.add_render_rule("math_inline", _render_math_inline)
    md.add_render_rule("math_inline_double", _render_math_display)
    md.add_render_rule("math_block", _render_math_display)
    md.add_render_rule("text_special", _render_text_special)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("html_inline", _render_html_as_text)
    md.add_render_rule("html_block", _render_html_as_text)
    return md


_MD = build_markdown()


def _line(token: Token) -> int:
    """1-based first line of a block token: the one place 0-based maps are converted."""
    assert token.map is not None, token
    return token.map[0] + 1


class _FileWalker:
    """Walks one file's block tokens and collects notes and diagnostics."""

    def __init__(self, path: str, lines: list[str], env: _Env) -> None:
        self.path = path
        self.lines = lines
        self.env = env
        self.render_env: dict[str, Any] = {_ENV_KEY: env}
        self.diagnostics: list[Diagnostic] = []
        self.deck: Located | None = None
        self.tags: list[Located] = []
        self.notes: list[SourceNote] = []
        self._key: Located | None = None
        self._fields: list[SourceField] = []
        self._has_list = False

    # -- helpers --------------------------------------------------------------------------

    def at(self, line: int, column: int = 1) -> Location:
        return Location(self.path, line, column)

    def error(self, location: Location, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(location, code, message))

    def indent_column(self, line: int) -> int:
        """Column of the first non-blank character of a 1-based line."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text) - len(text.lstrip()) + 1

    def find(self, needle: str, first: int, last: int, fallback: Location) -> Location:
        """Locate ``needle`` in lines ``first..last`` (1-based, inclusive)."""
        for line in range(first, min(last, len(self.lines)) + 1):
            col = self.lines[line - 1].find(needle)
            if col >= 0:
                return self.at(line, col + 1)
        return fallback

    # -- notes ----------------------------------------------------------------------------

    def finish_note(self) -> None:
        if self._key is not None:
            self.notes.append(SourceNote(self._key, tuple(self._fields)))
        self._key, self._fields, self._has_list = None, [], False

    def walk(self, tokens: list[Token]) -> None:
        i = 0
        while i < len(tokens):
            token = tokens[i]
            end = _block_end(tokens, i)
            if token.type == "front_matter":
                self.front_matter(token)
            elif token.type == "heading_open":
                self.heading(token, tokens[i + 1])
            elif self._key is None or token.type == "hr":
                pass  # prose before the first note is an introduction for GitHub readers
            elif token.type == "bullet_list_open" and not self._has_list:
                self._has_list = True
                self.field_list(tokens[i + 1 : end])
            elif token.type == "html_block":
                self.error(
                    self.at(_line(token), self.indent_column(_line(token))),
                    "raw-html",
                    "raw HTML is not allowed in notes; write Markdown",
                )
            else:
                line = _line(token)
                what = "a second list" if token.type == "bullet_list_open" else "this block"
                self.error(
                    self.at(line, self.indent_column(line)),
                    "stray-content",
                    f"{what} is not part of a field and would be dropped; "
                    "put it inside a field item ('- **Label:** ...')",
                )
            i = end + 1
        self.finish_note()

    def heading(self, token: Token, inline: Token) -> None:
        line = _line(token)
        level = int(token.tag[1:])
        if level == 1:
            self.finish_note()
        elif level == 2:
            self.finish_note()
            text = inline.content.strip().strip("`").strip()
            column = self.lines[line - 1].find(text) + 1 if text else 1
            self._key = Located(text, self.at(line, max(column, 1)))
        elif self._key is not None:
            self.error(
                self.at(line, self.indent_column(line)),
                "stray-content",
                f"a level-{level} heading inside a note is not allowed; "
                "a note starts at '## kind/name' and holds one field list",
            )

    def field_list(self, tokens: list[Token]) -> None:
        i = 0
        while i < len(tokens):
            token = tokens[i]
            end = _block_end(tokens, i)
            if token.type == "list_item_open":
                self.field_item(token, tokens[i + 1 : end])
            i = end + 1

    def field_item(self, item: Token, body: list[Token]) -> None:
        assert item.map is not None
        first, last = _line(item), item.map[1]
        bullet = self.at(first, self.indent_column(first))
        if len(body) < 2 or body[0].type != "paragraph_open" or body[1].type != "inline":
            self.error(bullet, "missing-label", "a field item must start with '**Label:**'")
            return
        children = body[1].children or []
        split = _split_label(children)
        if split is None:
            self.error(
                bullet,
                "missing-label",
                "a field item must start with a bold label ending in a colon, "
                "e.g. '- **Formula:** ...'",
            )
            return
        label, rest = split
        label_at = self.find("**", first, first, bullet)
        problems_before = len(self.diagnostics)
        self.check_tokens(rest, first, last, bullet)
        tail = body[3:]
        self.check_tokens(tail, first, last, bullet)
        self.env.media, self.env.media_problems = [], []
        renderer = _MD.renderer
        assert isinstance(renderer, RendererHTML)
        head_html = renderer.renderInline(rest, _MD.options, self.render_env).strip()
        tail_html = renderer.render(tail, _MD.options, self.render_env).strip() if tail else ""
        for src, problem in self.env.media_problems:
            where = self.find(src, first, last, bullet) if src else bullet
            self.error(where, problem.code, problem.message)
        if head_html and tail_html:
            html = f"<p>{head_html}</p>\n{tail_html}"
        else:
            html = head_html or tail_html
        text = " ".join(_plain_text(rest + tail).split())
        self._fields.append(
            SourceField(
                label=Located(label, label_at),
                html=html,
                text=text,
                location=bullet,
                media=tuple(self.env.media),
                refused=len(self.diagnostics) > problems_before,
            )
        )

    # -- checks on a value's tokens -------------------------------------------------------

    def check_tokens(self, tokens: Sequence[Token], first: int, last: int, at: Location) -> None:
        for token in tokens:
            if token.map is not None:
                first = _line(token)
            where = self.at(first, self.indent_column(first)) if token.map else at
            if token.type in ("html_inline", "html_block"):
                self.error(
                    self.find(token.content.strip()[:20], first, last, where),
                    "raw-html",
                    f"raw HTML {token.content.strip()[:40]!r} is not allowed; write Markdown",
                )
            elif token.type == "link_open":
                href = str(token.attrGet("href") or "")
                if _SCHEME.match(href) and not href.lower().startswith(_SAFE_LINK_SCHEMES):
                    self.error(
                        self.find(href[:20], first, last, where),
                        "unsafe-link",
                        f"link {href[:60]!r} is not allowed; "
                        "links must be http:, https: or mailto:",
                    )
            elif token.type in ("math_inline", "math_inline_double", "math_block"):
                problem = math_problem(token.content)
                if problem:
                    self.error(
                        self.find(token.content.strip()[:20], first, last, where),
                        "malformed-math",
                        problem,
                    )
            elif token.type == "text" and _STRAY_DOLLAR.search(token.content):
                self.error(
                    self.find(
                        _STRAY_DOLLAR.search(token.content).group(0)  # type: ignore[union-attr]
                        + token.content.split("$", 1)[1][:10],
                        first,
                        last,
                        where,
                    ),
                    "malformed-math",
                    "unmatched '$': close the math with '$' (no space inside the dollars), "
                    "or write '\\$' for a literal dollar sign",
                )
            if token.children:
                self.check_tokens(token.children, first, last, where)

    # -- front matter ---------------------------------------------------------------------

    def front_matter(self, token: Token) -> None:
        self.front_matter_lines(token.content, _line(token) + 1)

    def front_matter_lines(self, content: str, start: int) -> None:
        """Parse front matter whose first line is line ``start``."""
        current: str | None = None
        for offset, raw in enumerate(content.split("\n")):
            line = start + offset
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            column = len(raw) - len(raw.lstrip()) + 1
            if stripped.startswith("- "):
                if current != "tags":
                    self.error(
                        self.at(line, column),
                        "front-matter",
                        "a '- item' line belongs under 'tags:'",
                    )
                    continue
                value = _unquote(stripped[2:].strip())
                self.tags.append(Located(value, self.at(line, column + 2)))
                continue
            key, colon, value = stripped.partition(":")
            key = key.strip()
            if not colon or key not in FRONT_MATTER_KEYS:
                self.error(
                    self.at(line, column),
                    "front-matter",
                    f"unknown front matter line {stripped[:40]!r}; keys must be one of: "
                    + ", ".join(FRONT_MATTER_KEYS),
                )
                current = None
                continue
            current = key
            value = value.strip()
            value_column = raw.find(value) + 1 if value else column
            if key == "deck":
                if not value:
                    self.error(self.at(line, column), "front-matter", "'deck:' needs a value")
                self.deck = Located(_unquote(value), self.at(line, value_column))
            elif value:
                listed = value[1:-1] if value.startswith("[") and value.endswith("]") else value
                for tag in re.split(r"[,\s]+", listed):
                    if tag:
                        self.tags.append(Located(_unquote(tag), self.at(line, raw.find(tag) + 1)))


def _block_end(tokens: Sequence[Token], start: int) -> int:
    """Index of the token that closes the block opened at ``start`` (itself if none)."""
    token = tokens[start]
    if token.nesting != 1:
        return start
    for i in range(start + 1, len(tokens)):
        if tokens[i].level == token.level and tokens[i].nesting == -1:
            return i
    return len(tokens) - 1


def _split_label(children: Sequence[Token]) -> tuple[str, list[Token]] | None:
    """Split ``**Label:** value`` inline children into the label and the value tokens."""
    i = 0
    while i < len(children) and children[i].type == "text" and not children[i].content.strip():
        i += 1
    if i >= len(children) or children[i].type != "strong_open":
        return None
    j = i + 1
    parts: list[str] = []
    while j < len(children) and children[j].type != "strong_close":
        parts.append(children[j].content)
        j += 1
    if j >= len(children):
        return None
    label = "".join(parts).strip()
    rest = list(children[j + 1 :])
    if label.endswith(":"):
        label = label[:-1].strip()
    elif rest and rest[0].type == "text" and rest[0].content.startswith(":"):
        first = Token("text", "", 0, content=rest[0].content[1:])
        rest = [first, *rest[1:]]
    else:
        return None
    while rest and (
        rest[0].type == "softbreak" or (rest[0].type == "text" and not rest[0].content.strip())
    ):
        rest = rest[1:]
    if rest and rest[0].type == "text":
        rest = [Token("text", "", 0, content=rest[0].content.lstrip()), *rest[1:]]
    return (label, rest) if label else None


def _plain_text(tokens: Sequence[Token]) -> str:
    parts: list[str] = []
    for token in tokens:
        if token.type in ("text", "text_special", "code_inline", "code_block", "fence"):
            parts.append(token.content)
        elif token.type.startswith("math"):
            parts.append(f"${token.content.strip()}$")
        elif token.type in ("softbreak", "hardbreak", "paragraph_close", "list_item_close"):
            parts.append(" ")
        if token.children:
            parts.append(_plain_text(token.children))
    return "".join(parts)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


_BRACE_ENV = re.compile(r"\\(begin|end)\s*\{([^}]*)\}")


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
    for match in _BRACE_ENV.finditer(latex):
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


#: A character that makes a value more than plain text (with a block-level start, a double
#: space or a tab: see :func:`_is_plain`).
_MARKUP_CHAR = re.compile(r"[\\`*_\[\]!<>&$~|{}\t]")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_FAST_ITEM = re.compile(r"^- \*\*([A-Za-z0-9 ()/,.':-]+?)\*\*(.*)$")
_UNSAFE_LINE = re.compile(
    r"^(?:```|~~~|<|>|\||\* |\+ |\d+[.)]|=+\s*$|-+\s*$|#{3,}|\s{0,3}\[[^\]]*\]:|\t)"
)


#: Whitespace other than space, tab and newline (form feed, no-break space...): Python's
#: ``str.strip`` removes it but Markdown does not count it as blank, so files holding any
#: are left to the full parse.
_ODD_SPACE = re.compile(r"[^\S \t\n]")


class _Fallback(Exception):
    """The file is not in the simple shape the fast scanner reads; use the full parser."""


def _fast_scan(walker: _FileWalker) -> None:
    """Read a file of the usual shape without block-parsing all of it.

    Most note files are front matter, headings and one-line ``- **Label:** value`` items.
    For those, the structure is read line by line, plain values become escaped text
    directly, values with inline Markdown go through markdown-it's inline parser, and only
    items with continuation lines are block-parsed, on their own. Anything unusual raises
    :class:`_Fallback`, and the whole file is parsed by markdown-it instead;
    ``tests/test_parse_fast.py`` checks that both paths give identical results.
    """
    lines = walker.lines
    count = len(lines)
    i = 0
    # Of the current note's field list: whether it is loose, and whether an item whose
    # rendering depends on that was rendered tight.
    loose = rendered_tight = False
    if lines and lines[0] == "---":
        end = next((j for j in range(1, count) if lines[j] == "---"), None)
        if end is None:
            raise _Fallback
        walker.front_matter_lines("\n".join(lines[1:end]), 2)
        i = end + 1
    while i < count:
        raw = lines[i]
        if not raw.strip():
            i += 1
            continue
        if raw.startswith("## "):
            text = raw[3:].strip()
            if not text or text.endswith("#"):
                raise _Fallback
            walker.finish_note()
            key = text.strip("`").strip()
            column = raw.find(key) + 1 if key else 1
            walker._key = Located(key, walker.at(i + 1, max(column, 1)))
            i += 1
            continue
        if raw.startswith("# "):
            walker.finish_note()
            i += 1
            continue
        item = raw.startswith("- **")
        if not item and (raw.startswith(" ") or _UNSAFE_LINE.match(raw)):
            raise _Fallback
        if walker._key is None:
            if raw.startswith("- "):
                raise _Fallback
            i += 1  # introduction prose
            continue
        if not item:
            raise _Fallback  # stray content and its diagnostics: leave to the full parser
        if not walker._has_list:
            loose = rendered_tight = False
        elif lines[i - 1].strip() == "":
            if not _in_list(lines, i):
                raise _Fallback
            # A blank line between items makes the whole list loose, which shows the
            # paragraphs directly inside every item; those rendered tight on their own
            # would now be wrong.
            if rendered_tight:
                raise _Fallback
            loose = True
        walker._has_list = True
        # The item runs on over indented lines and blank lines followed by indented lines.
        end = i + 1
        while end < count:
            following = lines[end]
            if following.startswith(("  ", "\t")) or (
                # a blank line inside the item: indented text follows it
                end + 1 < count and lines[end + 1][:2] == "  " and not following.strip()
            ):
                end += 1
            else:
                break
        if end < count and lines[end].strip() and not lines[end].startswith(("- ", "#")):
            raise _Fallback  # a lazy continuation line
        if end == i + 1:
            _fast_single_line_item(walker, i + 1, raw)
        elif not _fast_simple_sublist(walker, i, end):
            item_loose = any(not line.strip() for line in lines[i:end])
            if item_loose and rendered_tight:
                raise _Fallback  # this item makes the list loose: see above
            loose = loose or item_loose  # a loose item is parsed loose on its own too
            if _fast_block_item(walker, i, end) and not item_loose:
                if loose:
                    raise _Fallback  # rendered tight, but its list is loose
                rendered_tight = True
        i = end
    walker.finish_note()


def _in_list(lines: list[str], i: int) -> bool:
    """True when the blank lines before line ``i`` are inside the current field list."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return j >= 0 and (lines[j].startswith(("- ", "  ")))


def _label_and_value(raw: str) -> tuple[str, str]:
    """The label and the value of a ``- **Label:** value`` line (else :class:`_Fallback`)."""
    match = _FAST_ITEM.match(raw)
    if match is None:
        raise _Fallback
    label, rest = match.group(1).strip(), match.group(2)
    if label.endswith(":"):
        label = label[:-1].strip()
    elif rest.startswith(":"):
        rest = rest[1:]
    else:
        raise _Fallback
    if not label or (rest and rest[0] != " "):
        raise _Fallback  # a value glued to its label: leave the rare case to the full parse
    return label, rest.strip()


def _has_markup(text: str) -> bool:
    """True if a run of one-line text holds inline markup (or a double space or a tab)."""
    return _MARKUP_CHAR.search(text) is not None or "  " in text


def _is_plain(value: str) -> bool:
    """True if markdown-it would render ``value`` (stripped, one line) as its own text."""
    return not _has_markup(value) and not (value and value[0] in "#+-=>")


def _simple_inline(value: str) -> tuple[str, str] | None:
    """HTML and plain text of a stripped one-line value that is plain text, or plain text
    and code spans.

    None for anything else (it needs markdown-it's inline parser).
    """
    if _is_plain(value):
        # No '&', '<' or '>' in plain text: of escapeHtml's work only quotes are left. No
        # run of whitespace either (stripped, no double space, no tab, odd whitespace
        # takes the full parse): the text is the value itself.
        return value.replace('"', "&quot;"), value
    # Single backticks only: then each one closes the span the one before it opened.
    if "`" in value and "``" not in value and _is_plain(_CODE_SPAN.sub("x", value)):
        return _code_spans_only(value)
    return None


def _fast_single_line_item(walker: _FileWalker, line: int, raw: str) -> None:
    label, value = _label_and_value(raw)
    bullet = walker.at(line, 1)
    label_at = walker.at(line, 3)
    simple = _simple_inline(value)
    if simple is None:
        simple = _math_and_strong(value)
    if simple is not None:
        walker._fields.append(SourceField(Located(label, label_at), *simple, bullet))
        return
    problems_before = len(walker.diagnostics)
    walker.env.media, walker.env.media_problems = [], []
    # Parsed after a space, as it is in the full parse (after its label): some inline rules
    # look at the character before a delimiter (the math plugin reads src[-1] at the start).
    (inline,) = _MD.parseInline(" " + value, walker.render_env)
    children = inline.children or []
    walker.check_tokens(children, line, line, bullet)
    renderer = _MD.renderer
    assert isinstance(renderer, RendererHTML)
    html = renderer.renderInline(children, _MD.options, walker.render_env).strip()
    for src, problem in walker.env.media_problems:
        walker.error(walker.find(src, line, line, bullet) if src else bullet, problem.code,
                     problem.message)  # fmt: skip
    walker._fields.append(
        SourceField(
            label=Located(label, label_at),
            html=html,
            text=" ".join(_plain_text(children).split()),
            location=bullet,
            media=tuple(walker.env.media),
            refused=len(walker.diagnostics) > problems_before,
        )
    )


def _code_spans_only(value: str) -> tuple[str, str]:
    """HTML and plain text of a value whose only Markdown is single-backtick code spans.

    The commonest inline markup in the notes, rendered as CommonMark does (and as
    markdown-it renders it): the text around the spans escaped, each span's content
    escaped inside ``<code>``, with one space stripped from both ends when it has both.
    """
    html: list[str] = []
    text: list[str] = []
    at = 0
    for span in _CODE_SPAN.finditer(value):
        outside = value[at : span.start()]
        code = span.group(1)
        if code[0] == " " and code[-1] == " " and code.strip(" "):
            code = code[1:-1]
        html += [escapeHtml(outside), f"<code>{escapeHtml(code)}</code>"]
        text += [outside, code]
        at = span.end()
    html.append(escapeHtml(value[at:]))
    text.append(value[at:])
    return "".join(html).strip(), " ".join("".join(text).split())


#: A span the fast path renders itself: display math, inline math, or strong text. The
#: contents are the cautious subset of what markdown-it and the dollar-math plugin accept
#: (no '$' or backtick in math, no backslash before a closing '$', strong text that starts
#: and ends with a letter or digit); anything else is left to markdown-it.
_MARKUP_SPAN = re.compile(
    r"\$\$(?P<display>[^$`]*[^$`\\])\$\$"
    r"|\$(?P<math>(?:[^\s$`][^$`]*)?[^\s$`\\])\$"
    r"|\*\*(?P<strong>[A-Za-z0-9](?:[^\\`*_\[\]!<>&$~|{}\t]*[A-Za-z0-9])?)\*\*"
)
#: What may stand right before a strong span's opening '**' and right after its closing
#: one, so that the first only opens and the second only closes (CommonMark's flanking).
_STRONG_BEFORE = " ("
_STRONG_AFTER = " .,;:)?'\"/-"


def _math_and_strong(value: str) -> tuple[str, str] | None:
    """HTML and plain text of a one-line value of plain text, ``$math$``, ``$$math$$``
    and ``**strong**`` spans, rendered as markdown-it renders them after a label.

    None for anything outside that cautious subset, and for malformed math (markdown-it's
    path reports it): those values go through markdown-it's inline parser.
    """
    if not value or value[0] in "#+-=>":
        return None
    html: list[str] = []
    text: list[str] = []
    at = 0
    for span in _MARKUP_SPAN.finditer(value):
        start, end = span.span()
        before, after = value[start - 1 : start], value[end : end + 1]
        if start and start == at:
            return None  # spans side by side: leave their interplay to markdown-it
        outside = value[at:start]
        if _has_markup(outside):
            return None  # markup left between spans: markdown-it's
        strong = span.group("strong")
        if strong is not None:
            if (before and before not in _STRONG_BEFORE) or (after and after not in _STRONG_AFTER):
                return None
            inner = f"<strong>{escapeHtml(strong)}</strong>"
            plain = strong
        else:
            # The dollar rule refuses a digit before the opening '$' or after the closing.
            if before.isdigit() or after.isdigit():
                return None
            display = span.group("display")
            latex = (span.group("math") if display is None else display).strip()
            if math_problem(latex) is not None:
                return None
            if display is None:
                inner = rf"\({escapeHtml(latex)}\)"
            else:
                inner = rf'<span class="math display">\[{escapeHtml(latex)}\]</span>'
            plain = f"${latex}$"
        html += [escapeHtml(outside), inner]
        text += [outside, plain]
        at = end
    if at == 0 or _has_markup(value[at:]):
        return None
    html.append(escapeHtml(value[at:]))
    text.append(value[at:])
    return "".join(html).strip(), " ".join("".join(text).split())


_SUBLIST_ITEM = re.compile(r"  - (\S.*)")
_ORDERED_START = re.compile(r"\d+[.)]")


def _fast_simple_sublist(walker: _FileWalker, start: int, end: int) -> bool:
    """Read a label with nothing after it and a tight list of simple values under it.

    The shape of format and option lists (``- **Training input:**`` then ``  - `text/csv```
    lines). False, with nothing done, for anything else.
    """
    lines = walker.lines
    try:
        label, value = _label_and_value(lines[start])
    except _Fallback:
        return False
    if value:
        return False
    items: list[tuple[str, str]] = []
    for raw in lines[start + 1 : end]:
        match = _SUBLIST_ITEM.fullmatch(raw)
        if match is None or _ORDERED_START.match(match.group(1)):
            return False
        simple = _simple_inline(match.group(1).strip())
        if simple is None:
            return False
        items.append(simple)
    html = "<ul>\n" + "".join(f"<li>{h}</li>\n" for h, _ in items) + "</ul>"
    text = " ".join(" ".join(t for _, t in items).split())
    walker._fields.append(
        SourceField(Located(label, walker.at(start + 1, 3)), html, text, walker.at(start + 1, 1))
    )
    return True


def _fast_block_item(walker: _FileWalker, start: int, end: int) -> bool:
    """Block-parse one item with continuation lines, keeping its real line numbers.

    True if the item holds paragraphs after its label, whose rendering depends on
    whether the whole list is loose (``<p>`` shown) or tight (hidden).
    """
    tokens = _MD.parse("\n".join(walker.lines[start:end]), walker.render_env)
    if (
        len(tokens) < 4
        or tokens[0].type != "bullet_list_open"
        or tokens[1].type != "list_item_open"
        or _block_end(tokens, 0) != len(tokens) - 1
        or _block_end(tokens, 1) != len(tokens) - 2
        or any(t.level >= MAX_NESTING - 1 for t in tokens)
    ):
        raise _Fallback
    for token in tokens:
        if token.map is not None:
            token.map = [token.map[0] + start, token.map[1] + start]
    walker.field_item(tokens[1], tokens[2:-2])
    level = tokens[1].level + 1
    return any(t.type == "paragraph_open" and t.level == level for t in tokens[3:-2])


def parse_text(
    text: str, path: str, resolve_media: MediaResolver | None = None, *, fast: bool = True
) -> tuple[SourceFile, list[Diagnostic]]:
    """Parse one file's text. Never raises for content problems: they become diagnostics.

    ``fast=False`` forces the full markdown-it parse (the reference the fast path is
    tested against).
    """
    # The normalisation markdown-it applies, done first so that both paths and every
    # column computed from the lines see the same text.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\x00", "\ufffd")
    lines = text.split("\n")
    if fast and not _ODD_SPACE.search(text):
        walker = _FileWalker(path, lines, _Env(resolve_media))
        try:
            _fast_scan(walker)
        except _Fallback:
            pass
        else:
            if walker.notes:
                return SourceFile(path, walker.deck, tuple(walker.tags), tuple(walker.notes)), (
                    walker.diagnostics
                )
    env = _Env(resolve_media)
    walker = _FileWalker(path, lines, env)
    tokens = _MD.parse(text, walker.render_env)
    too_deep = next((t for t in tokens if t.level >= MAX_NESTING - 1 and t.map), None)
    if too_deep is not None:
        line = _line(too_deep)
        where = Location(path, line, walker.indent_column(line))
        message = f"lists or quotes nested more than {MAX_NESTING - 2} levels deep; flatten them"
        return SourceFile(path, None, (), ()), [Diagnostic(where, "too-deep", message)]
    walker.walk(tokens)
    if not walker.notes and not walker.diagnostics:
        message = "file has no notes; a note starts with a heading '## kind/name'"
        walker.error(Location(path), "no-notes", message)
    source = SourceFile(path, walker.deck, tuple(walker.tags), tuple(walker.notes))
    return source, walker.diagnostics


def decode(data: bytes, path: str) -> tuple[str | None, list[Diagnostic]]:
    """Decode UTF-8 (with or without BOM), or locate the first undecodable byte."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
        message = f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        return None, [Diagnostic(Location(path, line, column), "not-utf8", message)]


def parse_file(
    path: Path, display: str, resolve_media: MediaResolver | None = None
) -> tuple[SourceFile | None, list[Diagnostic]]:
    """Read, decode and parse one file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            message = (
                f"file is {size / 1024 / 1024:.1f} MiB; the limit is "
                f"{MAX_FILE_BYTES // 1024 // 1024} MiB: split it by topic"
            )
            return None, [Diagnostic(Location(display), "file-too-large", message)]
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, [Diagnostic(Location(display), "unreadable-file", f"cannot read: {reason}")]
    text, problems = decode(data, display)
    if text is None:
        return None, problems
    return parse_text(text, display, resolve_media)
