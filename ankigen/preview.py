"""``ankigen preview``: every card of a built package, rendered by Anki, in one static page.

The package is imported into a throwaway collection with the official ``anki`` package and
each card's question and answer are rendered by Anki's own template engine. Math is turned
into MathML (latex2mathml) so formulas show without MathJax or any network access: only in
the text between tags (never inside an attribute), and the MathML is parsed and written
again through an allow list of MathML elements and attributes, so a formula cannot bring
HTML into the page. Requires the ``preview`` extra.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from ankigen.fileio import atomic_replace
from ankigen.render import environment, stylesheet

_STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)
_CODE = re.compile(r"(<code\b.*?</code>)", re.DOTALL)
_MATH = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_TAG = re.compile(r"(<[^>]*>)")
_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
#: The MathML a formula may become in the preview, and the attributes it may carry.
_MATHML_ELEMENTS = frozenset(
    {
        "math", "semantics", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup",
        "msub", "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover",
        "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose",
    }
)  # fmt: skip
_MATHML_ATTRIBUTES = frozenset(
    {
        "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "form",
        "accent", "accentunder", "linethickness", "width", "height", "depth", "columnalign",
        "rowspacing", "columnspacing", "displaystyle", "scriptlevel", "notation",
        "movablelimits", "largeop", "symmetric", "minsize", "maxsize",
    }
)  # fmt: skip


class PreviewUnavailable(Exception):
    """The optional packages the preview needs are not installed."""


@dataclass(frozen=True, slots=True)
class PreviewCard:
    """One rendered card."""

    subject: Markup
    """The note's subject (its first field, math as MathML), for the card's header."""
    template: str
    """The card template (the field it asks about)."""
    kind: str
    """Kind name, from the ``kind::`` tag."""
    tags: tuple[str, ...]
    """The note's tags."""
    front: Markup
    """Question HTML as Anki renders it, math as MathML."""
    back: Markup
    """Answer HTML as Anki renders it, math as MathML."""


def _safe_mathml(mathml: str) -> str | None:
    """MathML re-serialised from its parsed tree, or None if it holds anything else."""
    try:
        root = ET.fromstring(mathml)
    except ET.ParseError:
        return None
    for element in root.iter():
        tag = element.tag.removeprefix(_MATHML_NS)
        if tag not in _MATHML_ELEMENTS or not set(element.attrib) <= _MATHML_ATTRIBUTES:
            return None
    ET.register_namespace("", _MATHML_NS[1:-1])
    return ET.tostring(root, encoding="unicode")


def _mathml(fragment: str) -> str:
    from latex2mathml.converter import convert

    def replace(match: re.Match[str]) -> str:
        inline, display = match.group(1), match.group(2)
        latex = html.unescape(inline if inline is not None else display)
        try:
            converted = convert(latex, display="inline" if inline is not None else "block")
        except Exception:
            converted = ""
        safe = _safe_mathml(str(converted))
        return safe if safe is not None else f'<code class="tex">{html.escape(latex)}</code>'

    out = []
    for part in _CODE.split(fragment):
        if part.startswith("<code"):
            out.append(part)
            continue
        # Math only in the text between tags: never inside a tag or an attribute value.
        out.extend(p if p.startswith("<") else _MATH.sub(replace, p) for p in _TAG.split(part))
    return "".join(out)


def _body(rendered: str) -> Markup:
    return Markup(_mathml(_STYLE.sub("", rendered).strip()))


def render_cards(package: Path, media_out: Path) -> list[PreviewCard]:
    """Import ``package`` into a scratch collection and render every card."""
    try:
        from anki.collection import (
            Collection,
            ImportAnkiPackageOptions,
            ImportAnkiPackageRequest,
        )
    except ImportError as exc:
        raise PreviewUnavailable(
            "the preview needs the 'anki' and 'latex2mathml' packages: pip install -e '.[preview]'"
        ) from exc
    cards: list[PreviewCard] = []
    with tempfile.TemporaryDirectory(prefix="ankigen-preview-") as scratch:
        col = Collection(str(Path(scratch) / "preview.anki2"))
        try:
            request = ImportAnkiPackageRequest(
                package_path=str(package), options=ImportAnkiPackageOptions()
            )
            col.import_anki_package(request)
            for card_id in col.find_cards("", order="n.sfld collate nocase asc, c.ord asc"):
                card = col.get_card(card_id)
                note = card.note()
                kind = next((t.split("::", 1)[1] for t in note.tags if t.startswith("kind::")), "")
                cards.append(
                    PreviewCard(
                        subject=_body(note.fields[0]),
                        template=str(card.template()["name"]),
                        kind=kind,
                        tags=tuple(note.tags),
                        front=_body(card.question()),
                        back=_body(card.answer()),
                    )
                )
            media_out.mkdir(parents=True, exist_ok=True)
            for item in Path(col.media.dir()).iterdir():
                shutil.copyfile(item, media_out / item.name)
        finally:
            col.close()
    return cards


def write_preview(package: Path, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` (and the media it shows); return its path."""
    cards = render_cards(package, out_dir)
    kinds = sorted({c.kind for c in cards if c.kind})
    exam_tags = sorted({t for c in cards for t in c.tags if t.startswith("exam::")})
    page = (
        environment()
        .get_template("preview.html.j2")
        .render(
            cards=cards,
            kinds=kinds,
            exam_tags=exam_tags,
            deck_css=Markup(stylesheet()),
        )
    )
    target = out_dir / "index.html"
    with atomic_replace(target) as out:
        out.write(page.encode("utf-8"))
    return target
