"""A strict reader of card HTML: everything in it that could act in Anki, listed.

Used by the property tests, the hostile corpus and the real-deck tests. It is an allow
list, like the renderer: tags and attributes outside it are reported, as are event
handlers, links that are not http(s)/mailto, images that load from anywhere but the
package, MathJax delimiters outside the math the renderer wrote, TeX outside the allow
list, and Anki's own bracket syntaxes.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from ankigen.tex import math_problem, unsafe_command

_TAGS = {
    "p", "ul", "ol", "li", "code", "pre", "span", "strong", "em", "del", "s", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td", "br", "hr", "blockquote", "div", "style",
}  # fmt: skip
_ATTRIBUTES = {
    ("a", "href"), ("a", "title"), ("img", "src"), ("img", "alt"), ("img", "class"),
    ("img", "title"), ("span", "class"), ("pre", "class"), ("code", "class"), ("div", "class"),
    ("th", "style"), ("td", "style"), ("ol", "start"), ("hr", "id"),
}  # fmt: skip
_ANKI_SYNTAX = re.compile(r"\[sound:|\[anki:|\[/?latex\]|\[/?\$\$?\]|\{\{|\}\}|\[\[type:", re.I)
_MATH = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]", re.DOTALL)
_DELIMITER = re.compile(r"\\[()\[\]]|\\begin")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self.problems.append(f"tag <{tag}>")
        if tag == "style":
            self.skip += 1  # the note type's own CSS, put there by Anki
        for name, value in attrs:
            value = value or ""
            if (tag, name) not in _ATTRIBUTES:
                self.problems.append(f"attribute {name} on <{tag}>")
            elif name == "href" and not re.match(r"^(https?://|mailto:)", value, re.I):
                self.problems.append(f"link {value!r}")
            elif name == "src" and re.match(r"^([a-z][a-z0-9+.-]*:|//|/)", value, re.I):
                self.problems.append(f"image source {value!r}")
            elif name == "style" and not re.fullmatch(r"text-align:(left|right|center)", value):
                self.problems.append(f"style {value!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        # MathJax searches each run of text between elements for delimiters.
        for match in _MATH.finditer(data):
            latex = match.group(1) if match.group(1) is not None else match.group(2)
            command = unsafe_command(latex)
            if command is not None or math_problem(latex):
                self.problems.append(f"math {latex[:40]!r}")
        rest = _MATH.sub("", data)
        if _DELIMITER.search(rest):
            self.problems.append(f"MathJax delimiter in text {rest[:40]!r}")


_STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)


def active_content(card_html: str) -> list[str]:
    """Everything in card HTML that could act in Anki (empty if it is inert). The note
    type's own ``<style>`` element, which Anki puts first, is not note text: left out."""
    card_html = _STYLE.sub("", card_html)
    reader = _Reader()
    reader.feed(card_html)
    reader.close()
    problems = reader.problems
    problems += [f"Anki syntax {m.group()!r}" for m in _ANKI_SYNTAX.finditer(card_html)]
    if "<!--" in card_html:
        problems.append("HTML comment")
    return problems


def visible_text(card_html: str) -> str:
    """The text a learner reads (tags removed, references decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", card_html))
