"""Markdown text -> source notes with locations. The only module that runs markdown-it's parser.

It owns the one configured :class:`MarkdownIt` instance and reads a note file's structure
from markdown-it's own token stream: front matter, ``## kind/name`` headings, and each
note's field list. A field keeps the tokens of its value (rendered later by ``render.py``)
and its Markdown source (hashed by ``lock.py``, shown by ``diff.py``). What does not fit
the format is reported here; what a value *says* is checked in ``validate.py``.

Lines are 1-based from here on: markdown-it's 0-based ``Token.map`` is converted only in
:func:`_line`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_inline_dollar
from mdit_py_plugins.front_matter import front_matter_plugin

from ankigen.diagnostics import Diagnostic, Location

FRONT_MATTER_KEYS = ("deck", "tags")
#: markdown-it stops parsing (and silently drops the rest) past this many nested blocks;
#: a file that comes close is refused instead.
MAX_NESTING = 20
#: Inline text longer than this (one paragraph, heading or table cell) is refused before
#: markdown-it's inline rules see it: they rescan runs of unclosed brackets and emphasis
#: delimiters, so their work grows with the square of a paragraph's length (a quarter
#: megabyte of ``![`` takes seconds). The longest in the deck is under 2,000 characters.
MAX_INLINE_CHARS = 5_000


@dataclass(frozen=True, slots=True)
class Located:
    """A string from the source and where it was written."""

    value: str
    """The text."""
    location: Location
    """Where it starts."""


@dataclass(frozen=True, slots=True)
class SourceField:
    """One labelled item of a note's field list, as written."""

    label: Located
    """The label as written, without its colon."""
    location: Location
    """Where the item's bullet is."""
    source: str
    """The value's Markdown, as written (continuation lines dedented)."""
    inline: tuple[Token, ...]
    """The inline tokens of the value's first paragraph, after the label."""
    blocks: tuple[Token, ...]
    """The block tokens after the first paragraph (more paragraphs, lists, code, math)."""
    lines: tuple[str, ...]
    """The item's lines as written, for locating what is inside it."""
    text: str
    """The value as plain text (code and math as written), whitespace collapsed."""

    def find(
        self, needle: str, after: tuple[int, int] = (0, -1), whole: bool = False
    ) -> tuple[int, int] | None:
        """(line offset, column offset) of the first appearance of ``needle`` after the
        place ``after`` (``whole``: not inside a longer tag-like word), or None."""
        if not needle:
            return None
        pattern = re.compile(
            rf"(?<![\w:.-]){re.escape(needle)}(?![\w:.-])" if whole else re.escape(needle)
        )
        first_line, first_column = after
        for offset in range(max(first_line, 0), len(self.lines)):
            start = first_column + 1 if offset == first_line else 0
            match = pattern.search(self.lines[offset], start)
            if match:
                return offset, match.start()
        return None

    def at(self, place: tuple[int, int] | None) -> Location:
        """A place found by :meth:`find` as a location (the bullet if not found)."""
        if place is None:
            return self.location
        return Location(self.location.path, self.location.line + place[0], place[1] + 1)

    def locate(self, needle: str) -> Location:
        """Where ``needle`` first appears in the item, or the bullet if it cannot be found."""
        return self.at(self.find(needle))


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
    deck: Located | None = None
    """The ``deck:`` front matter value, if any."""
    tags: tuple[Located, ...] = ()
    """The ``tags:`` front matter values."""
    notes: tuple[SourceNote, ...] = ()
    """Notes in source order."""


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


def build_markdown(plain_text_shortcut: bool = True) -> MarkdownIt:
    """The one markdown-it configuration, with every choice spelled out.

    CommonMark plus GFM tables and strikethrough, YAML-style front matter, and ``$``/``$$``
    math. Raw HTML is *parsed* (never rendered) so that it can be reported where it was
    written, and every link is accepted by the parser so that unsafe ones are reported
    rather than left as silent literal text. No typographer, no linkify.

    ``plain_text_shortcut`` gives inline runs of plain text (see :func:`_plain_children`)
    their tokens directly instead of through markdown-it's inline rules; without it
    (``False``) markdown-it parses every run, which is what the shortcut is tested against.
    """
    md = MarkdownIt(
        "commonmark",
        {"html": True, "linkify": False, "typographer": False, "maxNesting": MAX_NESTING},
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
    # Keep escapes and entities as tokens of their own, so that `\$` is not taken for math.
    md.disable("text_join")
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.core.ruler.before("inline", "bound_inline", _bound_inline)
    if plain_text_shortcut:
        md.core.ruler.at("inline", _inline_with_shortcut)
    return md


#: An inline run that is a field's bold label and plain words, or plain words alone: no
#: character that can start inline markup (escapes, code, emphasis, links and images, HTML
#: and autolinks, entities, math, strikethrough) and no line break. About three runs in
#: four in a deck; ``tests/test_parse.py`` checks the tokens are markdown-it's own.
_PLAIN_RUN = re.compile(
    r"^(?:\*\*(?P<label>[A-Za-z][A-Za-z0-9 ()/,.'-]*:)\*\*(?P<rest> [^\\`*_\[\]!<>&$~\n]*)?"
    r"|(?P<plain>[^\\`*_\[\]!<>&$~\n]*))$"
)


def _plain_children(content: str) -> list[Token] | None:
    """The inline tokens markdown-it makes of a plain run, or None for any other run."""
    match = _PLAIN_RUN.match(content)
    if match is None or "  " in content:
        return None
    plain = match.group("plain")
    if plain is not None:
        return [Token("text", "", 0, content=plain)] if plain else []
    rest = match.group("rest") or ""
    if rest.endswith(" "):
        return None
    return [
        Token("text", "", 0, content=""),
        Token("strong_open", "strong", 1, markup="**"),
        Token("text", "", 0, level=1, content=match.group("label")),
        Token("strong_close", "strong", -1, markup="**"),
        Token("text", "", 0, content=rest),
    ]


def _inline_with_shortcut(state: StateCore) -> None:
    """markdown-it's core ``inline`` rule, with plain runs given their tokens directly."""
    for token in state.tokens:
        if token.type != "inline":
            continue
        if token.children is None:
            token.children = []
        children = _plain_children(token.content)
        if children is None:
            state.md.inline.parse(token.content, state.md, state.env, token.children)
        else:
            token.children.extend(children)


_TOO_LONG = "ankigen_too_long"


def _bound_inline(state: StateCore) -> None:
    """Empty inline runs over :data:`MAX_INLINE_CHARS` and note their lines in the env."""
    for token in state.tokens:
        if token.type == "inline" and len(token.content) > MAX_INLINE_CHARS:
            token.content = ""
            state.env.setdefault(_TOO_LONG, []).append(_line(token))


#: The parser. ``render.py`` renders the tokens it makes with ``MARKDOWN.options``.
MARKDOWN = build_markdown()


def _line(token: Token) -> int:
    """1-based first line of a block token: the one place 0-based maps are converted."""
    assert token.map is not None, token
    return token.map[0] + 1


def _block_end(tokens: Sequence[Token], start: int) -> int:
    """Index of the token that closes the block opened at ``start`` (itself if none)."""
    token = tokens[start]
    if token.nesting != 1:
        return start
    for i in range(start + 1, len(tokens)):
        if tokens[i].level == token.level and tokens[i].nesting == -1:
            return i
    return len(tokens) - 1


_LABEL_START = re.compile(r"^([ \t]*[-*+][ \t]+)(\*\*|__)(.+?)\2[ \t]*:?")


@dataclass(slots=True)
class _Walker:
    """Walks one file's block tokens and collects notes and diagnostics."""

    path: str
    lines: list[str]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    deck: Located | None = None
    tags: list[Located] = field(default_factory=list)
    notes: list[SourceNote] = field(default_factory=list)
    key: Located | None = None
    fields: list[SourceField] = field(default_factory=list)
    has_list: bool = False

    def at(self, line: int, column: int = 1) -> Location:
        return Location(self.path, line, column)

    def error(self, location: Location, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(location, code, message))

    def indent_column(self, line: int) -> int:
        """Column of the first non-blank character of a 1-based line."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text) - len(text.lstrip()) + 1

    def finish_note(self) -> None:
        if self.key is not None:
            self.notes.append(SourceNote(self.key, tuple(self.fields)))
        self.key, self.fields, self.has_list = None, [], False

    def walk(self, tokens: list[Token]) -> None:
        i = 0
        while i < len(tokens):
            token = tokens[i]
            end = _block_end(tokens, i)
            if token.type == "front_matter":
                self.front_matter(token)
            elif token.type == "heading_open":
                self.heading(token, tokens[i + 1])
            elif self.key is None or token.type == "hr":
                pass  # prose before the first note is an introduction for GitHub readers
            elif token.type == "bullet_list_open" and not self.has_list:
                self.has_list = True
                self.field_list(tokens[i + 1 : end])
            elif token.type == "html_block":
                line = _line(token)
                self.error(
                    self.at(line, self.indent_column(line)),
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
            self.key = Located(text, self.at(line, max(column, 1)))
        elif self.key is not None:
            self.error(
                self.at(line, self.indent_column(line)),
                "stray-content",
                f"a level-{level} heading inside a note is not allowed; "
                "a note starts at '## kind/name' and holds one field list",
            )

    def field_list(self, tokens: list[Token]) -> None:
        i = 0
        while i < len(tokens):
            end = _block_end(tokens, i)
            if tokens[i].type == "list_item_open":
                self.field_item(tokens[i], tokens[i + 1 : end])
            i = end + 1

    def field_item(self, item: Token, body: list[Token]) -> None:
        assert item.map is not None
        first, last = _line(item), item.map[1]
        bullet = self.at(first, self.indent_column(first))
        split = None
        if len(body) >= 2 and body[0].type == "paragraph_open" and body[1].type == "inline":
            split = _split_label(body[1].children or [])
        if split is None:
            self.error(
                bullet,
                "missing-label",
                "a field item must start with a bold label ending in a colon, "
                "e.g. '- **Formula:** ...'",
            )
            return
        label, rest = split
        lines = self.lines[first - 1 : last]
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
        label_column = lines[0].find("**")
        match = _LABEL_START.match(lines[0])
        if match:
            label_column = len(match.group(1))
        self.fields.append(
            SourceField(
                label=Located(label, self.at(first, max(label_column, 0) + 1)),
                location=bullet,
                source=_value_source(lines),
                inline=tuple(rest),
                blocks=tuple(body[3:]),
                lines=tuple(lines),
                text=" ".join(plain_text((*rest, *body[3:])).split()),
            )
        )

    def front_matter(self, token: Token) -> None:
        """Read the front matter: ``deck: Name`` and ``tags:`` with ``- tag`` items."""
        start = _line(token) + 1
        current: str | None = None
        seen: dict[str, int] = {}
        for offset, raw in enumerate(token.content.split("\n")):
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
            if key in seen:
                self.error(
                    self.at(line, column),
                    "front-matter",
                    f"'{key}:' is already given at line {seen[key]}; give it once",
                )
                current = None
                continue
            seen[key] = line
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


def _value_source(lines: Sequence[str]) -> str:
    """The Markdown of a field's value: the item's text after its label, dedented."""
    match = _LABEL_START.match(lines[0])
    if match is None:
        return "\n".join(line.rstrip() for line in lines).strip()
    indent = len(match.group(1))
    head = lines[0][match.end() :].strip()
    rest = []
    for line in lines[1:]:
        leading = len(line) - len(line.lstrip(" "))
        rest.append(line[min(leading, indent) :].rstrip())
    return "\n".join([head, *rest]).strip()


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
        if children[j].type not in ("text", "text_special"):
            return None  # a label is plain words
        parts.append(children[j].content)
        j += 1
    if j >= len(children):
        return None
    label = "".join(parts).strip()
    rest = list(children[j + 1 :])
    if label.endswith(":"):
        label = label[:-1].strip()
    elif rest and rest[0].type == "text" and rest[0].content.startswith(":"):
        rest[0].content = rest[0].content[1:]  # the tokens are this parse's own
    else:
        return None
    while rest and (
        rest[0].type == "softbreak" or (rest[0].type == "text" and not rest[0].content.strip())
    ):
        rest = rest[1:]
    if rest and rest[0].type == "text":
        rest[0].content = rest[0].content.lstrip()
    return (label, rest) if label else None


def plain_text(tokens: Sequence[Token]) -> str:
    """Tokens as plain text: words, code and math as written (``$...$``), no markup."""
    parts: list[str] = []
    for token in tokens:
        if token.type in ("text", "text_special", "code_inline", "code_block", "fence"):
            parts.append(token.content)
        elif token.type.startswith("math"):
            parts.append(f"${token.content.strip()}$")
        elif token.type in ("softbreak", "hardbreak", "paragraph_close", "list_item_close"):
            parts.append(" ")
        if token.children:
            parts.append(plain_text(token.children))
    return "".join(parts)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def normalise(text: str) -> str:
    """The normalisation markdown-it applies to its input, done first so that every column
    computed from the lines sees the text markdown-it saw."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\x00", "\ufffd")


#: Control characters a note may not hold: every C0 control but tab and newline (carriage
#: returns are newlines by now), DEL and the C1 controls. Anki separates a note's fields
#: with U+001F: one in a field would shift every field after it.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _controls(lines: Sequence[str], path: str) -> list[Diagnostic]:
    problems = []
    for number, line in enumerate(lines, start=1):
        match = _CONTROL.search(line)
        if match:
            problems.append(
                Diagnostic(
                    Location(path, number, match.start() + 1),
                    "control-character",
                    f"control character U+{ord(match.group()):04X} is not allowed in notes; "
                    "remove it",
                )
            )
    return problems


def parse(text: str, path: str) -> tuple[SourceFile, list[Diagnostic]]:
    """Parse one file's text. Never raises for content problems: they become diagnostics."""
    text = normalise(text)
    lines = text.split("\n")
    controls = _controls(lines, path)
    if controls:
        return SourceFile(path), controls
    walker = _Walker(path, lines)
    env: dict[str, list[int]] = {}
    tokens = MARKDOWN.parse(text, env)
    if env.get(_TOO_LONG):
        message = (
            f"a paragraph is longer than {MAX_INLINE_CHARS:,} characters; "
            "split it into shorter paragraphs or fields"
        )
        problems = [
            Diagnostic(Location(path, line, walker.indent_column(line)), "too-complex", message)
            for line in env[_TOO_LONG]
        ]
        return SourceFile(path), problems
    too_deep = next((t for t in tokens if t.level >= MAX_NESTING - 1 and t.map), None)
    if too_deep is not None:
        line = _line(too_deep)
        where = Location(path, line, walker.indent_column(line))
        message = f"lists or quotes nested more than {MAX_NESTING - 2} levels deep; flatten them"
        return SourceFile(path), [Diagnostic(where, "too-deep", message)]
    walker.walk(tokens)
    if not walker.notes and not walker.diagnostics:
        message = "file has no notes; a note starts with a heading '## kind/name'"
        walker.error(Location(path), "no-notes", message)
    source = SourceFile(path, walker.deck, tuple(walker.tags), tuple(walker.notes))
    return source, walker.diagnostics
