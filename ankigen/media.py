"""Images: the paths notes write, resolved against the media folder; what ships for each.

Everything here is an allow list. An image path is resolved as text against the files
``discover`` read from ``cards_src/media/`` (never against the file system, so nothing
outside the folder can be named); file names use a fixed set of characters; a raster
image must start with its format's signature; an SVG is parsed, checked element by
element and attribute by attribute against what a diagram needs, and shipped as it is
re-serialised from the parsed tree, never as it was written.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from xml.parsers import expat

from ankigen.discover import MEDIA_DIR_NAME, MediaFile

#: What an image file's name (each part of its path) may be made of.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
#: Raster formats and the bytes each file must start with.
_SIGNATURES: MappingProxyType[str, tuple[bytes, ...]] = MappingProxyType(
    {
        ".png": (b"\x89PNG\r\n\x1a\n",),
        ".jpg": (b"\xff\xd8\xff",),
        ".jpeg": (b"\xff\xd8\xff",),
        ".gif": (b"GIF87a", b"GIF89a"),
        ".webp": (b"RIFF",),
    }
)
SUFFIXES = frozenset({*_SIGNATURES, ".svg"})


@dataclass(frozen=True, slots=True)
class Shipped:
    """An image as it goes into the package."""

    name: str
    """File name in the package: the stem, a content hash and the suffix."""
    source: str
    """Its path inside the media folder."""
    data: bytes
    """The bytes shipped (for SVG, the sanitised re-serialisation)."""


class MediaProblem(Exception):
    """An image cannot be shipped; ``code`` and the message say why, ``where`` is an
    optional ``(path, line, column)`` inside the image file itself."""

    def __init__(self, code: str, message: str, where: tuple[str, int, int] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.where = where


def packaged_name(relative: str, data: bytes) -> str:
    """The file's name in the package: its stem, a content hash and its suffix."""
    stem, suffix = posixpath.splitext(posixpath.basename(relative))
    return f"{stem}.{hashlib.sha256(data).hexdigest()[:12]}{suffix.lower()}"


class MediaLibrary:
    """Resolves image paths written in notes to the files that ship, checking each once."""

    def __init__(self, files: Mapping[str, MediaFile]) -> None:
        self._files = files
        self._checked: dict[str, Shipped | MediaProblem] = {}

    def resolve(self, src: str, note_relative: str) -> Shipped:
        """The image ``src`` (as written in the note file at ``note_relative``, a path inside
        the source folder) as it ships; raises :class:`MediaProblem`."""
        if not src or _SCHEME.match(src) or src.startswith("//"):
            raise MediaProblem(
                "remote-resource",
                f"image {src[:60]!r} would load from outside the deck; put the file under "
                f"cards_src/{MEDIA_DIR_NAME}/ and refer to it by a relative path",
            )
        path = urllib.parse.unquote(src)
        if path.startswith("/") or "\\" in path:
            raise MediaProblem(
                "missing-media", f"image {src[:60]!r}: write a relative path, with '/'"
            )
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(note_relative), path))
        prefix = f"{MEDIA_DIR_NAME}/"
        if not joined.startswith(prefix):
            raise MediaProblem(
                "missing-media", f"image {src[:60]!r} is not under cards_src/{MEDIA_DIR_NAME}/"
            )
        inner = joined.removeprefix(prefix)
        bad = next((part for part in inner.split("/") if not _NAME.match(part)), None)
        if bad is not None:
            raise MediaProblem(
                "bad-media-name",
                f"image file name {bad[:60]!r} may use only letters A-Z and a-z, digits, "
                "'-', '_' and '.' (no spaces, accents, '&', '#' or '%'); rename the file",
            )
        suffix = posixpath.splitext(inner)[1].lower()
        if suffix not in SUFFIXES:
            raise MediaProblem(
                "missing-media",
                f"image {src[:60]!r} is not an image file; use one of: "
                + ", ".join(sorted(SUFFIXES)),
            )
        checked = self._checked.get(inner)
        if checked is None:
            checked = self._checked[inner] = self._check(inner, suffix)
        if isinstance(checked, MediaProblem):
            raise checked
        return checked

    def _check(self, inner: str, suffix: str) -> Shipped | MediaProblem:
        found = self._files.get(inner)
        if found is None:
            return MediaProblem(
                "missing-media", f"no file {inner!r} in cards_src/{MEDIA_DIR_NAME}/"
            )
        data, problem = found.read()
        if data is None:
            assert problem is not None
            where = (problem.location.path, problem.location.line, problem.location.column)
            return MediaProblem(problem.code, problem.message, where)
        try:
            if suffix == ".svg":
                data = sanitise_svg(data, found.display)
            else:
                signatures = _SIGNATURES[suffix]
                if not data.startswith(signatures) or (suffix == ".webp" and data[8:12] != b"WEBP"):
                    kind = suffix[1:].upper()
                    return MediaProblem(
                        "unsafe-media",
                        f"{inner!r} is not a {kind} image (its first bytes do not say so)",
                    )
        except MediaProblem as problem:
            return problem
        return Shipped(packaged_name(inner, data), inner, data)


# -- SVG --------------------------------------------------------------------------------

_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_SVG_ELEMENTS = 10_000
MAX_SVG_DEPTH = 40

# Values are checked by splitting and matching each piece whole: no pattern here can
# backtrack more than linearly, whatever a value holds.
_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_LENGTH_TOKEN = re.compile(rf"{_NUMBER}(?:px|pt|em|ex|%|mm|cm|in)?")
_SEPARATORS = re.compile(r"[\s,]+")
_PATH = re.compile(r"^[MmZzLlHhVvCcSsQqTtAa0-9eE.,+\-\s]*$")
_TRANSFORM_ITEM = re.compile(r"(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^()]*)\)")
MAX_SVG_VALUE = 100_000


def _length(value: str) -> bool:
    return bool(_LENGTH_TOKEN.fullmatch(value.strip()))


def _numbers(value: str) -> bool:
    return all(_LENGTH_TOKEN.fullmatch(p) for p in _SEPARATORS.split(value.strip()) if p)


def _transform(value: str) -> bool:
    at = 0
    for item in _TRANSFORM_ITEM.finditer(value):
        if value[at : item.start()].strip(" \t\n\r,") or not _numbers(item.group(2)):
            return False
        at = item.end()
    return not value[at:].strip(" \t\n\r,")


_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_LOCAL_URL = re.compile(r"^url\(\s*#[A-Za-z_][A-Za-z0-9_.-]*\s*\)$")
_LOCAL_HREF = re.compile(r"^#[A-Za-z_][A-Za-z0-9_.-]*$")
_COLOR = re.compile(
    r"^\s*(?:#[0-9a-fA-F]{3,8}|[a-zA-Z]+|rgba?\(\s*[0-9.%\s,]+\)|hsla?\(\s*[0-9.%\s,deg]+\))\s*$"
)
_WORDS = re.compile(r"^[A-Za-z][A-Za-z0-9 -]*$")
_FONT_FAMILY = re.compile(r"^[A-Za-z0-9 ,'\"-]+$")


def _paint(value: str) -> bool:
    return bool(_COLOR.match(value) or _LOCAL_URL.match(value.strip()))


def _reference(value: str) -> bool:
    return value.strip() == "none" or bool(_LOCAL_URL.match(value.strip()))


_LENGTHS = (
    "x y x1 y1 x2 y2 cx cy r rx ry fx fy width height dx dy stroke-width font-size offset "
    "opacity fill-opacity stroke-opacity stop-opacity stroke-dashoffset stroke-miterlimit "
    "markerWidth markerHeight refX refY letter-spacing word-spacing textLength pathLength"
)
_KEYWORDS = (
    "text-anchor dominant-baseline alignment-baseline font-weight font-style font-variant "
    "stroke-linecap stroke-linejoin fill-rule clip-rule gradientUnits spreadMethod "
    "preserveAspectRatio orient markerUnits clipPathUnits maskUnits maskContentUnits "
    "visibility display vector-effect version baseline-shift writing-mode lengthAdjust"
)
#: Attributes an SVG diagram may use, and the values each may take.
_ATTRIBUTES: MappingProxyType[str, Callable[[str], object]] = MappingProxyType(
    {
        **dict.fromkeys(_LENGTHS.split(), _length),
        **dict.fromkeys(("viewBox", "points", "stroke-dasharray"), _numbers),
        "d": _PATH.match,
        "transform": _transform,
        "gradientTransform": _transform,
        "patternTransform": _transform,
        **dict.fromkeys(("fill", "stroke", "stop-color", "color"), _paint),
        **dict.fromkeys(
            ("clip-path", "mask", "marker-start", "marker-mid", "marker-end"), _reference
        ),
        **dict.fromkeys(_KEYWORDS.split(), _WORDS.match),
        "font-family": _FONT_FAMILY.match,
        "id": _ID.match,
        "class": _WORDS.match,
    }
)
#: Elements an SVG diagram may use: shapes, text, groups, gradients, markers, clipping.
_ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "title", "desc", "path", "rect", "circle", "ellipse", "line",
        "polyline", "polygon", "text", "tspan", "linearGradient", "radialGradient", "stop",
        "clipPath", "mask", "marker", "symbol", "use",
    }
)  # fmt: skip
#: Elements whose ``href`` may point inside the same file.
_HREF_ELEMENTS = frozenset({"use", "linearGradient", "radialGradient"})


@dataclass(slots=True)
class _Element:
    tag: str
    attributes: list[tuple[str, str]]
    children: list[_Element | str]


def sanitise_svg(data: bytes, display: str) -> bytes:
    """The SVG re-serialised from its parsed tree, or :class:`MediaProblem` naming what is
    not on the allow list (with its line and column in the file)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise MediaProblem("unsafe-media", "SVG files must be UTF-8", (display, 1, 1)) from None
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    parser.ordered_attributes = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Element] = []
    root: list[_Element] = []
    count = 0

    def fail(message: str) -> MediaProblem:
        where = (display, parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        return MediaProblem("unsafe-media", f"SVG: {message}", where)

    def refuse_doctype(*_: object) -> None:
        raise fail("a DOCTYPE or entity declaration is not allowed")

    def start(name: str, attributes: list[str]) -> None:
        nonlocal count
        namespace, _, tag = name.rpartition(" ")
        if namespace != _SVG_NS or tag not in _ELEMENTS:
            shown = tag if namespace in (_SVG_NS, "") else f"{{{namespace}}}{tag}"
            raise fail(
                f"element {shown!r} is not allowed; allowed: " + ", ".join(sorted(_ELEMENTS))
            )
        count += 1
        if count > MAX_SVG_ELEMENTS or len(stack) >= MAX_SVG_DEPTH:
            raise fail("too many or too deeply nested elements")
        if not stack and (root or tag != "svg"):
            raise fail("the document must be a single <svg> element")
        kept: list[tuple[str, str]] = []
        for i in range(0, len(attributes), 2):
            key, value = attributes[i], attributes[i + 1]
            namespace, _, local = key.rpartition(" ")
            if (namespace == _XLINK_NS and local == "href") or (not namespace and local == "href"):
                if tag not in _HREF_ELEMENTS or not _LOCAL_HREF.match(value):
                    raise fail(
                        f"href={value[:40]!r} on <{tag}>: only references inside the file "
                        "('#id') on <use> and gradients are allowed"
                    )
                kept.append(("href", value))
                continue
            if namespace == _XML_NS and local == "space" and value in ("default", "preserve"):
                kept.append(("xml:space", value))
                continue
            check = _ATTRIBUTES.get(local) if not namespace else None
            if check is None:
                raise fail(f"attribute {local!r} on <{tag}> is not allowed")
            if len(value) > MAX_SVG_VALUE or not check(value):
                raise fail(f"attribute {local}={value[:40]!r} on <{tag}> is not allowed")
            kept.append((local, value))
        element = _Element(tag, kept, [])
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(_: str) -> None:
        stack.pop()

    def text(value: str) -> None:
        if stack:
            stack[-1].children.append(value)
        elif value.strip():
            raise fail("text outside the <svg> element")

    def instruction(target: str, _: str) -> None:
        raise fail(f"processing instruction {target!r} is not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.ProcessingInstructionHandler = instruction
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        where = (display, exc.lineno, exc.offset + 1)
        reason = expat.ErrorString(exc.code)
        raise MediaProblem("unsafe-media", f"SVG is not well-formed XML: {reason}", where) from None
    if not root:
        raise MediaProblem("unsafe-media", "SVG has no <svg> element", (display, 1, 1))
    _refuse_nested_use(root[0], display)
    return _serialise(root[0]).encode("utf-8")


def _refuse_nested_use(root: _Element, display: str) -> None:
    """A ``<use>`` may not point at anything that holds a ``<use>`` itself: nested ones
    multiply (ten levels of ten make ten billion shapes) and can freeze a viewer."""
    by_id = {
        value: element
        for element in _iter(root)
        for key, value in element.attributes
        if key == "id"
    }
    for element in _iter(root):
        if element.tag != "use":
            continue
        target = by_id.get(dict(element.attributes).get("href", "").removeprefix("#"))
        if target is not None and any(e.tag == "use" for e in _iter(target)):
            raise MediaProblem(
                "unsafe-media",
                "SVG: a <use> points at an element that holds a <use>; nested references "
                "are not allowed",
                (display, 1, 1),
            )


def _escape(value: str, quote: bool) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace('"', "&quot;") if quote else value


def _serialise(element: _Element, top: bool = True) -> str:
    attributes = [("xmlns", _SVG_NS)] if top else []
    attributes += element.attributes
    if top and any(key == "href" for node in _iter(element) for key, _ in node.attributes):
        attributes.insert(1, ("xmlns:xlink", _XLINK_NS))
    parts = [f"<{element.tag}"]
    parts += [
        f' {"xlink:href" if key == "href" else key}="{_escape(value, True)}"'
        for key, value in attributes
    ]
    if not element.children:
        return "".join(parts) + "/>"
    parts.append(">")
    for child in element.children:
        parts.append(_escape(child, False) if isinstance(child, str) else _serialise(child, False))
    parts.append(f"</{element.tag}>")
    return "".join(parts)


def _iter(element: _Element) -> list[_Element]:
    found = [element]
    for child in element.children:
        if isinstance(child, _Element):
            found += _iter(child)
    return found
