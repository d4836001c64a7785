"""Cards -> Anki note types: card templates and CSS, rendered through one jinja2 Environment.

Field values are HTML already (``parse.py`` renders each field's Markdown once); this module
renders the *templates* Anki fills with them: one card template per card field of each kind,
whose front is empty (so Anki makes no card) when the field is empty.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup
from pygments.formatters import HtmlFormatter

from ankigen.cards import KINDS, KindSpec

_PACKAGE_DIR = Path(__file__).resolve().parent


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
    )
    # Anki's own template syntax, produced only through these helpers so that a field
    # name can never be mistaken for markup.
    env.globals["ref"] = lambda name: _anki(name)
    env.globals["open_if"] = lambda name: _anki(f"#{name}")
    env.globals["close_if"] = lambda name: _anki(f"/{name}")
    return env


#: Pygments styles for code in light and night mode (both meet WCAG AA contrast on their
#: backgrounds; tests/test_browser.py measures it).
CODE_STYLE_LIGHT = "default"
CODE_STYLE_NIGHT = "github-dark"


@functools.cache
def stylesheet() -> str:
    """The deck's CSS, shared by every note type: ``templates/style.css`` plus code colours."""
    base = (templates_dir() / "style.css").read_text(encoding="utf-8")
    light = HtmlFormatter(style=CODE_STYLE_LIGHT).get_style_defs(".highlight")
    night = HtmlFormatter(style=CODE_STYLE_NIGHT).get_style_defs(
        [".nightMode .highlight", ".night_mode .highlight"]
    )
    return f"{base}\n/* Code highlighting (Pygments) */\n{light}\n{night}\n"


def render_note_type(kind: KindSpec) -> NoteType:
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
    return NoteType(kind=kind, templates=templates, css=stylesheet())


def render_note_types() -> dict[str, NoteType]:
    """Every kind's note type, by kind name."""
    return {name: render_note_type(kind) for name, kind in KINDS.items()}
