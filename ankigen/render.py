"""Checked notes -> HTML: each field's tokens through one renderer, and the Anki note types.

Field HTML is made here, at every build, from the tokens ``validate.py`` checked. Every
piece of note text that lands in a card (text, code, math, alt text, link titles) goes
through :func:`inert`: escaped as HTML, with Anki's own bracket syntaxes (``[sound:``,
``[anki:tts]``, ``[latex]``, ``[$]``, ``{{``, ``[[type:``) written as character
references that Anki's text processing does not match, and every backslash in text
followed by an empty element, so that MathJax, which reads the page's text, never sees
``\\(``, ``\\[`` or ``\\begin`` that a note did not write as checked math. The note
types (card templates and CSS) come from ``templates/`` through one jinja2 environment.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from ankigen.cards import KINDS, CardModel, KindSpec, field_values
from ankigen.diagnostics import Location
from ankigen.media import Shipped
from ankigen.parse import MARKDOWN, SourceField, plain_text
from ankigen.tex import unsafe_command
from ankigen.validate import SAFE_LINK, Note

_PACKAGE_DIR = Path(__file__).resolve().parent
_BRACKETS = str.maketrans(
    {
        "[": "&#91;", "]": "&#93;", "{": "&#123;", "}": "&#125;",
        # Control characters are refused by parse.py; never let one reach a field (Anki
        # separates fields with U+001F).
        **{chr(c): "\ufffd" for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]},
    }
)  # fmt: skip
#: What follows every backslash of note text: an element ends the run of text MathJax
#: searches for delimiters, so a backslash in text can never start math.
_BREAK = "<span></span>"


def inert(text: str) -> str:
    """Note text as HTML that shows exactly the text and can never act in Anki."""
    return escapeHtml(text).translate(_BRACKETS).replace("\\", "\\" + _BREAK)


def inert_attribute(text: str) -> str:
    """Note text as an attribute value (alt text, link title) that can never act in Anki."""
    return escapeHtml(text).translate(_BRACKETS)


#: Languages whose code is highlighted. An allow list: some Pygments lexers take minutes
#: on crafted input (C and INI on long runs of spaces); these stay linear. Any other
#: language, and code longer than :data:`MAX_HIGHLIGHT_CHARS`, is shown as plain text.
HIGHLIGHTED = frozenset(
    {
        "python", "py", "bash", "sh", "shell", "zsh", "json", "yaml", "yml", "sql", "javascript",
        "js", "typescript", "ts", "java", "r", "scala", "toml", "xml", "go", "csharp", "ruby",
        "powershell", "html", "markdown", "md", "dockerfile", "text",
    }
)  # fmt: skip
MAX_HIGHLIGHT_CHARS = 20_000


@functools.cache
def _lexer(language: str) -> Lexer:
    if language not in HIGHLIGHTED:
        return TextLexer()
    try:
        return get_lexer_by_name(language)
    except ClassNotFound:
        return TextLexer()


_FORMATTER = HtmlFormatter(nowrap=True)


class _CardRenderer(RendererHTML):
    """markdown-it's HTML renderer with every rule that emits note text made inert."""

    def text(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return inert(tokens[idx].content)

    def text_special(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return inert(tokens[idx].content)

    def code_inline(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return f"<code>{inert(tokens[idx].content)}</code>"

    def code_block(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return f'<pre class="highlight"><code>{inert(tokens[idx].content)}</code></pre>\n'

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        # Highlighted at build time with Pygments classes (templates/highlight.css): no
        # script runs on a phone. Pygments escapes &, <, > and quotes and writes no
        # brackets or backslashes of its own, so the rest of inert() applies to its output.
        token = tokens[idx]
        language = token.info.strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
        if len(token.content) > MAX_HIGHLIGHT_CHARS:
            language = ""
        code = highlight(token.content, _lexer(language), _FORMATTER)
        code = code.translate(_BRACKETS).replace("\\", "\\" + _BREAK)
        return f'<pre class="highlight"><code>{code}</code></pre>\n'

    def html_block(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return inert(tokens[idx].content)  # refused by validate.py; inert should it get here

    def html_inline(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return inert(tokens[idx].content)

    def math_inline(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        content = tokens[idx].content
        if unsafe_command(content) is not None:  # refused by validate.py; text if it gets here
            return f"<code>{inert(content)}</code>"
        return rf"\({_latex(content)}\)"

    def math_inline_double(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        content = tokens[idx].content
        if unsafe_command(content) is not None:
            return f"<code>{inert(content)}</code>"
        # A span styled as a block, so that display math inside a paragraph stays valid HTML.
        return rf'<span class="math display">\[{_latex(content)}\]</span>'

    def link_open(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        href = str(tokens[idx].attrGet("href") or "")
        if not SAFE_LINK.match(href):  # refused by validate.py; no address should it get here
            return "<a>"
        return self.renderToken(tokens, idx, options, env)

    def math_block(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return f"<p>{self.math_inline_double(tokens, idx, options, env)}</p>\n"

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        shipped: Shipped = env["media"][str(token.attrGet("src") or "")]
        alt = " ".join(plain_text(token.children or []).split())
        # Diagrams (SVG) are drawn for a light background; night mode inverts them.
        css_class = ' class="diagram"' if shipped.name.endswith(".svg") else ""
        return f'<img src="{escapeHtml(shipped.name)}" alt="{inert_attribute(alt)}"{css_class}>'

    @staticmethod
    def renderAttrs(token: Token) -> str:
        return "".join(
            f' {escapeHtml(key)}="{inert_attribute(str(value))}"'
            for key, value in token.attrItems()
        )


def _latex(content: str) -> str:
    # Math reaches MathJax as the text of the page, so character references are decoded
    # before it reads them: the formula is unchanged, Anki's bracket syntaxes are not.
    return escapeHtml(content.strip()).translate(_BRACKETS)


_RENDERER = _CardRenderer()


def field_html(item: SourceField, media: Mapping[str, Shipped]) -> str:
    """One field's value as card HTML."""
    env: EnvType = {"media": media}
    head = _RENDERER.renderInline(list(item.inline), MARKDOWN.options, env).strip()
    tail = _RENDERER.render(list(item.blocks), MARKDOWN.options, env).strip()
    if head and tail:
        return f"<p>{head}</p>\n{tail}"
    return head or tail


@dataclass(frozen=True, slots=True)
class RenderedField:
    """One field of a note: as written, as plain text, and as card HTML."""

    source: str
    """The Markdown as written."""
    text: str
    """Plain text (code and math as written)."""
    html: str
    """Card HTML."""


@dataclass(frozen=True, slots=True)
class RenderedNote:
    """A checked note with its fields rendered: plain data, all the later stages need."""

    key: str
    """The stable key: the note's identity."""
    kind: KindSpec
    """The note's kind."""
    card: CardModel[RenderedField]
    """The typed fields."""
    deck: str
    """Full deck name."""
    tags: tuple[str, ...]
    """Sorted tags, including the kind tag (and the retired tag for a retired note)."""
    location: Location
    """Where the note's key is written."""
    file: str
    """The note's file, relative to the source folder."""
    renamed_from: str = ""
    """The key whose identity it takes over, if any."""
    retired: str = ""
    """Why the note was retired; empty for a live note."""
    media: tuple[Shipped, ...] = ()
    """The images its fields show."""

    def values(self) -> tuple[RenderedField | None, ...]:
        """Field values in Anki field order."""
        return field_values(self.card)

    def html(self) -> tuple[str, ...]:
        """Field HTML in Anki order (``""`` for an absent field)."""
        return tuple("" if v is None else v.html for v in self.values())

    def card_count(self) -> int:
        """How many cards Anki makes: one per card field with a value."""
        return self.kind.card_count(self.values())


def render_note(note: Note) -> RenderedNote:
    """Render every field of a checked note."""
    fields: dict[str, Any] = {}
    for spec, value in zip(note.kind.fields, note.values(), strict=True):
        if value is not None:
            fields[spec.attr] = RenderedField(
                value.source, value.text, field_html(value, note.media)
            )
    return RenderedNote(
        key=note.key,
        kind=note.kind,
        card=note.kind.model(**fields),
        deck=note.deck,
        tags=note.tags,
        location=note.location,
        file=note.file,
        renamed_from=note.renamed_from,
        retired=note.retired,
        media=tuple(sorted(set(note.media.values()), key=lambda s: s.name)),
    )


# -- note types ------------------------------------------------------------------------


def templates_dir() -> Path:
    """The ``templates/`` folder: inside the installed package, or at the repository root."""
    installed = _PACKAGE_DIR / "templates"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / "templates"


@dataclass(frozen=True, slots=True)
class CardTemplate:
    """One Anki card template: a card per note whose field ``name`` has a value."""

    name: str
    """Template name in Anki, the field it asks about."""
    front: str
    """Question template (Anki's ``qfmt``)."""
    back: str
    """Answer template (Anki's ``afmt``)."""


@dataclass(frozen=True, slots=True)
class NoteType:
    """A kind as an Anki note type."""

    kind: KindSpec
    """The kind it renders."""
    templates: tuple[CardTemplate, ...]
    """One template per card field."""
    css: str
    """The deck's shared style sheet."""


def _anki(tag: str) -> Markup:
    assert "}" not in tag and "{" not in tag, tag
    return Markup("{{%s}}") % Markup(tag)


@functools.cache
def environment() -> jinja2.Environment:
    """The one jinja2 environment: strict undefined, autoescaping, no caching surprises."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # Anki's own template syntax, produced only through these helpers so that a field
    # name can never be mistaken for markup.
    env.globals["ref"] = lambda name: _anki(name)
    env.globals["open_if"] = lambda name: _anki(f"#{name}")
    env.globals["close_if"] = lambda name: _anki(f"/{name}")
    return env


def stylesheet() -> str:
    """The deck's CSS, shared by every note type: ``style.css`` then ``highlight.css``
    (Pygments' colours for code, light and night, kept as a file so that the deck's look
    does not change with the installed Pygments)."""
    folder = templates_dir()
    parts = [(folder / name).read_text(encoding="utf-8") for name in ("style.css", "highlight.css")]
    return "\n".join(part.rstrip("\n") for part in parts) + "\n"


def render_note_type(kind: KindSpec, css: str) -> NoteType:
    """Render the card templates of one kind."""
    env = environment()
    front, back = env.get_template("front.html.j2"), env.get_template("back.html.j2")
    templates = tuple(
        CardTemplate(
            name=field.label,
            front=front.render(kind=kind, field=field).strip(),
            back=back.render(kind=kind, field=field).strip(),
        )
        for field in kind.card_fields
    )
    return NoteType(kind=kind, templates=templates, css=css)


def render_note_types() -> dict[str, NoteType]:
    """Every kind's note type, by kind name, from the templates as they are on disk now."""
    css = stylesheet()
    return {name: render_note_type(kind, css) for name, kind in KINDS.items()}
