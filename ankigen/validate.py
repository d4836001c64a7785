"""Source notes -> typed notes: every check a note must pass, and the checks across notes.

This is the trust boundary. What a value may hold is an allow list: links are ``http:``,
``https:`` or ``mailto:``; images are checked files of the media folder (``media.py``);
math uses allowed TeX commands only (``tex.py``); raw HTML is refused; tags and deck names
follow a fixed syntax, and the tags the build gives (``ankigen::``, ``kind::``) cannot be
written. Then the card-quality rules: no answer is a list of more than five items, no
front contains its answer, no answer sends the learner to another note. Every problem is
a located :class:`Diagnostic`; a note with an error is left out, and the build refuses to
write while any error exists, so nothing is dropped silently.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from markdown_it.token import Token

from ankigen.cards import KINDS, CardModel, KindSpec, field_values, normalise_label
from ankigen.config import (
    EXAM_TAG_PREFIX,
    EXAMS,
    KIND_TAG_PREFIX,
    RETIRED_TAG,
    ROOT_DECK,
    successor_tag,
)
from ankigen.diagnostics import Diagnostic, Location
from ankigen.discover import NoteFile
from ankigen.media import MediaLibrary, MediaProblem, Shipped
from ankigen.parse import Located, SourceField, SourceFile, SourceNote
from ankigen.tex import math_problem, unsafe_command

KEY = re.compile(r"^[a-z0-9]+(?:/[a-z0-9]+(?:[-_.][a-z0-9]+)*)+$")
TAG = re.compile(r"^[A-Za-z0-9_.-]+(?:::[A-Za-z0-9_.-]+)*$")
_DECK_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ,&()'._-]*$")
#: Tag prefixes only the build gives, and tags Anki gives a meaning of its own.
RESERVED_TAG_PREFIXES = ("ankigen::", f"{KIND_TAG_PREFIX}::")
RESERVED_TAGS = frozenset({"marked", "leech"})
#: Labels that set a note's metadata rather than a field.
META_LABELS = ("Tags", "Deck", "Renamed from", "Retired")
SAFE_LINK = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)
_STRAY_DOLLAR = re.compile(r"\$(?![0-9])")
#: Answers longer than this many list items are better split (one card, one recall).
MAX_LIST_ITEMS = 5
_DANGLING = re.compile(
    r"\b(?:see|refer to|covered (?:in|by))\b[^.;:]{0,80}?\b(?:note|card)s?\b", re.IGNORECASE
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Note:
    """A checked note: a typed card model over its checked field values, and its identity."""

    key: str
    """The stable key, e.g. ``metric/f1-score``: the note's identity."""
    kind: KindSpec
    """The note's kind."""
    card: CardModel[SourceField]
    """The typed field values, as written and checked."""
    deck: str
    """Full deck name, ``::`` separated."""
    tags: tuple[str, ...]
    """Sorted tags, including the kind tag (and the retired tag for a retired note)."""
    location: Location
    """Where the note's key is written."""
    file: str
    """The note's file, relative to the source folder."""
    renamed_from: str = ""
    """The key this note had before (``- **Renamed from:**``); it keeps that identity."""
    retired: str = ""
    """Why the note was retired (``- **Retired:**``); empty for a live note."""
    media: Mapping[str, Shipped] = field(default_factory=lambda: MappingProxyType({}))
    """The images its fields show, by the path written in the note."""

    def values(self) -> tuple[SourceField | None, ...]:
        """Field values in Anki field order."""
        return field_values(self.card)

    def card_count(self) -> int:
        """How many cards Anki makes: one per card field with a value."""
        return self.kind.card_count(self.values())


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


@functools.cache
def tag_problem(value: str) -> tuple[str, str] | None:
    """(code, message) of what is wrong with a tag written in a note, if anything.

    Memoised: a deck writes the same few dozen tags on every note."""
    if not TAG.match(value):
        return (
            "bad-tag",
            f"tag {value[:60]!r} may use only letters, digits, '-', '_', '.' and '::' "
            "between parts",
        )
    if value.lower().startswith(RESERVED_TAG_PREFIXES) or value.lower() in RESERVED_TAGS:
        return (
            "reserved-tag",
            f"tag {value!r} is given by the build or by Anki; notes cannot write it",
        )
    parts = value.split("::")
    if parts[0].lower() == EXAM_TAG_PREFIX and parts[0] != EXAM_TAG_PREFIX:
        return (
            "bad-tag",
            f"write exam tags in lower case 'exam::…' (Anki ignores case): {value!r}",
        )
    if parts[0] != EXAM_TAG_PREFIX:
        return None
    if len(parts) not in (3, 4):
        return (
            "bad-tag",
            f"exam tag {value!r} must be exam::EXAM::DOMAIN or exam::EXAM::DOMAIN::TASK",
        )
    exam = EXAMS.get(parts[1])
    if exam is None:
        return (
            "unknown-exam",
            f"unknown exam {parts[1]!r}{_suggest(parts[1], EXAMS)}; exams are: " + ", ".join(EXAMS),
        )
    domain = exam.domain(parts[2])
    if domain is None:
        slugs = [d.slug for d in exam.domains]
        return (
            "unknown-domain",
            f"{exam.code} has no domain {parts[2]!r}{_suggest(parts[2], slugs)}; domains are: "
            + ", ".join(slugs),
        )
    if len(parts) == 4 and domain.task(parts[3]) is None:
        numbers = [t.number for t in domain.tasks]
        return (
            "unknown-task",
            f"{exam.code} {domain.slug} has no task {parts[3]!r}; tasks are: " + ", ".join(numbers),
        )
    return None


@functools.cache
def deck_problem(value: str) -> str | None:
    """What is wrong with a ``deck:`` value, if anything."""
    parts = [p.strip() for p in value.split("::")]
    bad = next((p for p in parts if not _DECK_PART.match(p)), None)
    if bad is None:
        return None
    return (
        f"deck {value[:60]!r}: each '::'-separated part must be non-empty and use only "
        "letters, digits, spaces and , & ( ) ' . _ -"
    )


def full_deck_name(value: str | None) -> str:
    """The full deck name for a checked ``deck:`` value."""
    if value is None:
        return ROOT_DECK
    return "::".join([ROOT_DECK, *(p.strip() for p in value.split("::"))])


def _split_tags(item: SourceField) -> list[Located]:
    tags = [t for t in re.split(r"[,\s]+", item.text) if t]
    cursors: dict[str, tuple[int, int]] = {}
    located = []
    for tag in tags:
        place = item.find(tag, cursors.get(tag, (0, -1)), whole=True)
        if place is not None:
            cursors[tag] = place
        located.append(Located(tag, item.at(place)))
    return located


def _walk(tokens: Sequence[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


class _NoteChecker:
    """The checks on one note, collecting diagnostics and the images it shows."""

    def __init__(self, file: NoteFile, media: MediaLibrary, out: list[Diagnostic]) -> None:
        self.file = file
        self.media_library = media
        self.out = out
        self.media: dict[str, Shipped] = {}

    def error(self, where: Location, code: str, message: str) -> None:
        self.out.append(Diagnostic(where, code, message))

    def value(self, item: SourceField, makes_card: bool) -> None:
        """What a value may hold: the allow lists, then the card-quality rules. One pass
        over the value's tokens, so the work grows with the value's size only."""
        flat = list(_walk((*item.inline, *item.blocks)))
        cursors: dict[str, tuple[int, int]] = {}

        def locate(needle: str) -> Location:
            # The n-th report of the same text points at its n-th appearance.
            place = item.find(needle, cursors.get(needle, (0, -1)))
            if place is not None:
                cursors[needle] = place
            return item.at(place)

        lists: list[list[int]] = []  # [items so far, index of the list's opening token]
        for i, token in enumerate(flat):
            kind = token.type
            if kind in ("bullet_list_open", "ordered_list_open"):
                lists.append([0, i])
            elif kind == "list_item_open" and lists and token.level == flat[lists[-1][1]].level + 1:
                lists[-1][0] += 1
            elif kind in ("bullet_list_close", "ordered_list_close") and lists:
                count, opened = lists.pop()
                if makes_card and count > MAX_LIST_ITEMS:
                    self.long_list(item, flat[opened], count)
            elif kind in ("html_inline", "html_block"):
                shown = token.content.strip()
                self.error(
                    locate(shown[:20]),
                    "raw-html",
                    f"raw HTML {shown[:40]!r} is not allowed; write Markdown",
                )
            elif kind == "link_open":
                href = str(token.attrGet("href") or "")
                if not SAFE_LINK.match(href):
                    text: list[str] = []
                    for inner in flat[i + 1 :]:
                        if inner.type == "link_close" or len(text) > 20:
                            break
                        text.append(inner.content)
                    label = "".join(text)
                    where = locate(f"[{label}]") if label else item.location
                    self.error(
                        where if where != item.location else locate(href[:20]),
                        "unsafe-link",
                        f"link to {href[:60]!r} is not allowed; links must be absolute "
                        "http:, https: or mailto: addresses",
                    )
            elif kind == "image":
                self.image(item, str(token.attrGet("src") or ""))
            elif kind in ("math_inline", "math_inline_double", "math_block"):
                self.math(item, token.content)
            elif kind == "text" and _STRAY_DOLLAR.search(token.content):
                self.error(
                    locate("$"),
                    "malformed-math",
                    "unmatched '$': close the math with '$' (no space inside the dollars), "
                    "or write '\\$' for a literal dollar sign",
                )
        if makes_card:
            match = _DANGLING.search(item.text)
            if match:
                self.error(
                    item.locate(match.group().split()[0]),
                    "dangling-reference",
                    f"{match.group()!r}: Anki cannot follow a reference to another note; "
                    "state the fact itself in a few words",
                )

    def image(self, item: SourceField, src: str) -> None:
        try:
            self.media[src] = self.media_library.resolve(src, self.file.relative)
        except MediaProblem as problem:
            where = item.location
            for needle in (src, urllib.parse.unquote(src), src.replace("%20", " ")):
                if needle and (found := item.locate(needle[:20])) != item.location:
                    where = found
                    break
            if problem.where is not None:
                where = Location(*problem.where)
            self.error(where, problem.code, problem.message)

    def math(self, item: SourceField, latex: str) -> None:
        where = item.locate(latex.strip()[:20])
        problem = math_problem(latex)
        if problem:
            self.error(where, "malformed-math", problem)
            return
        command = unsafe_command(latex)
        if command is not None:
            self.error(
                where,
                "unsafe-math",
                f"'{command}' is not an allowed TeX command here; formulas may use common "
                "math commands only (see ankigen/tex.py for the list)",
            )

    def long_list(self, item: SourceField, opened: Token, items: int) -> None:
        line = item.location.line if opened.map is None else opened.map[0] + 1
        text = item.lines[line - item.location.line] if opened.map else ""
        where = Location(item.location.path, line, len(text) - len(text.lstrip()) + 1)
        self.error(
            where,
            "long-list",
            f"this answer lists {items} items; keep answers to {MAX_LIST_ITEMS} or fewer "
            "(split it into two fields or notes: one card, one recall)",
        )


def _front_words(subject: str, prompt: str) -> str:
    return " " + " ".join(_WORD.findall(f"{subject} {prompt}".casefold())) + " "


def _check_answer_on_front(
    kind: KindSpec, values: Mapping[str, SourceField], out: list[Diagnostic]
) -> None:
    subject = values[kind.subject.attr].text
    for spec in kind.card_fields:
        item = values.get(spec.attr)
        if item is None or any(t.type == "image" for t in _walk((*item.inline, *item.blocks))):
            continue  # an image answers in its own way
        answer = " ".join(_WORD.findall(item.text.casefold()))
        versus = values.get(kind.field_by_label(spec.versus).attr) if spec.versus else None  # type: ignore[union-attr]
        front = _front_words(subject, f"{versus.text if versus else ''} {spec.prompt}")
        if len(answer) >= 4 and f" {answer} " in front:
            out.append(
                Diagnostic(
                    item.label.location,
                    "answer-on-front",
                    f"the answer {item.text[:40]!r} is already on the card's front; "
                    "ask without giving it away",
                )
            )


def check_note(
    source: SourceFile, file: NoteFile, note: SourceNote, media: MediaLibrary,
    out: list[Diagnostic],
) -> Note | None:  # fmt: skip
    """Check one note; every problem goes to ``out``. None if the note has an error."""
    key = note.key
    if not KEY.match(key.value):
        out.append(
            Diagnostic(
                key.location,
                "bad-key",
                f"key {key.value[:60]!r} must be 'kind/name' in lower case letters, digits and "
                "'-', '_' or '.', e.g. 'metric/f1-score'",
            )
        )
        return None
    kind_name = key.value.split("/", 1)[0]
    kind = KINDS.get(kind_name)
    if kind is None:
        out.append(
            Diagnostic(
                key.location,
                "unknown-kind",
                f"unknown kind {kind_name!r}{_suggest(kind_name, KINDS)}; kinds are: "
                + ", ".join(KINDS),
            )
        )
        return None

    errors_before = len(out)
    checker = _NoteChecker(file, media, out)
    values: dict[str, SourceField] = {}
    tags: list[Located] = list(source.tags)
    deck = source.deck
    renamed_from = retired = ""
    seen: dict[str, SourceField] = {}
    for item in note.fields:
        label = normalise_label(item.label.value)
        if label in seen:
            out.append(
                Diagnostic(
                    item.label.location,
                    "repeated-field",
                    f"field {item.label.value!r} is already given at "
                    f"line {seen[label].location.line}",
                )
            )
            continue
        seen[label] = item
        if label in ("tags", "deck", "renamed from", "retired"):
            checker.value(item, makes_card=False)
            if label == "tags":
                tags.extend(_split_tags(item))
            elif label == "deck":
                deck = Located(item.text, item.location)
            elif label == "retired":
                retired = item.text or "retired"
            else:
                renamed_from = _check_rename(key.value, item, out)
            continue
        spec = kind.field_by_normalised_label(label)
        if spec is None:
            labels = [f.label for f in kind.fields]
            out.append(
                Diagnostic(
                    item.label.location,
                    "unknown-field",
                    f"{kind.name} has no field {item.label.value!r}"
                    f"{_suggest(item.label.value, labels)}; fields are: "
                    + ", ".join([*labels, *META_LABELS]),
                )
            )
            continue
        if not item.inline and not item.blocks:
            out.append(
                Diagnostic(
                    item.label.location,
                    "empty-field",
                    f"field {spec.label!r} is empty; give it a value or remove the line",
                )
            )
            continue
        checker.value(item, makes_card=spec.makes_card and spec is not kind.subject)
        values[spec.attr] = item

    for spec in kind.fields:
        if spec.required and spec.attr not in values and normalise_label(spec.label) not in seen:
            out.append(
                Diagnostic(
                    key.location,
                    "missing-field",
                    f"{kind.name} note needs a '**{spec.label}:**' field",
                )
            )
    _check_counterparts(kind, values, out)

    for tag in tags:
        problem = tag_problem(tag.value)
        if problem:
            out.append(Diagnostic(tag.location, *problem))
    tag_values = {t.value for t in tags}
    if not any(t.startswith(f"{EXAM_TAG_PREFIX}::") for t in tag_values):
        out.append(
            Diagnostic(
                key.location,
                "missing-exam-tag",
                "note has no exam tag; add one such as "
                "'exam::MLA-C01::D2-Model-Development::2.1' to the file's 'tags:' or the "
                "note's '**Tags:**'",
            )
        )
    for written in (source.deck, deck if deck is not source.deck else None):
        if written is not None and (problem_text := deck_problem(written.value)):
            out.append(Diagnostic(written.location, "bad-deck", problem_text))

    if len(out) > errors_before or any(
        spec.required and spec.attr not in values for spec in kind.fields
    ):
        return None  # every reason is reported, here or by the parser
    _check_answer_on_front(kind, values, out)
    if len(out) > errors_before:
        return None
    given: dict[str, Any] = dict(values)
    built_tags = tag_values | {f"{KIND_TAG_PREFIX}::{kind.name}"}
    built_tags |= {t for t in map(successor_tag, tag_values) if t is not None}
    if retired:
        built_tags.add(RETIRED_TAG)
    return Note(
        key=key.value,
        kind=kind,
        card=kind.model(**given),
        deck=full_deck_name(deck.value if deck else None),
        tags=tuple(sorted(built_tags)),
        location=key.location,
        file=file.relative,
        renamed_from=renamed_from,
        retired=retired,
        media=MappingProxyType(checker.media),
    )


def _check_rename(key: str, item: SourceField, out: list[Diagnostic]) -> str:
    old = item.text.strip("`").strip()
    if not KEY.match(old) or old == key:
        out.append(
            Diagnostic(
                item.label.location,
                "bad-rename",
                f"'Renamed from:' needs the note's previous key, got {old[:60]!r}",
            )
        )
        return ""
    if old.split("/", 1)[0] != key.split("/", 1)[0]:
        out.append(
            Diagnostic(
                item.label.location,
                "bad-rename",
                f"'{old}' cannot be renamed to '{key}': a note keeps its kind in learners' "
                "collections, so Anki would never update it again. Keep the old note with "
                f"'- **Retired:** replaced by {key}' and add the new note without "
                "'Renamed from:'",
            )
        )
        return ""
    return old


def _check_counterparts(
    kind: KindSpec, values: Mapping[str, SourceField], out: list[Diagnostic]
) -> None:
    """A contrast card's field and the field naming its counterpart come together."""
    for spec in kind.fields:
        partner = kind.field_by_label(spec.versus) if spec.versus else None
        if partner is None:
            continue
        for given, missing in ((spec, partner), (partner, spec)):
            if given.attr in values and missing.attr not in values:
                out.append(
                    Diagnostic(
                        values[given.attr].label.location,
                        "missing-field",
                        f"'{given.label}' needs a '**{missing.label}:**' field too: the card's "
                        f"front names both sides ('{kind.subject.label} vs {spec.versus}: "
                        f"{spec.prompt}')",
                    )
                )


_Fact = bytes  # a digest of one card's normalised question and answer


@dataclass(frozen=True, slots=True)
class CorpusEntry:
    """What the checks across notes compare of one note (plain data, no tokens)."""

    key: str
    """The note's key."""
    location: Location
    """Where the key is written."""
    renamed_from: str
    """The key it takes over, if any."""
    facts: tuple[tuple[_Fact, Location], ...]
    """A digest of each card's normalised question and answer, and where its field is."""


def corpus_entry(note: Note) -> CorpusEntry:
    """What :func:`check_corpus` needs of a checked note."""
    values = dict(zip((f.attr for f in note.kind.fields), note.values(), strict=True))
    subject = values[note.kind.subject.attr]
    assert subject is not None
    facts = []
    for spec in note.kind.card_fields:
        item = values.get(spec.attr)
        if item is None:
            continue
        question = f"{_normalise(subject.text)}: {spec.prompt}"
        digest = hashlib.blake2b(f"{question}\0{_normalise(item.text)}".encode(), digest_size=12)
        facts.append((digest.digest(), item.location))
    return CorpusEntry(note.key, note.location, note.renamed_from, tuple(facts))


def check_corpus(entries: Sequence[CorpusEntry]) -> list[Diagnostic]:
    """The checks across files: duplicate keys and facts, and renames that collide."""
    diagnostics: list[Diagnostic] = []
    first_by_key: dict[str, CorpusEntry] = {}
    for entry in entries:
        other = first_by_key.setdefault(entry.key, entry)
        if other is not entry:
            diagnostics.append(
                Diagnostic(
                    entry.location,
                    "duplicate-key",
                    f"key {entry.key!r} is already used at {other.location}",
                )
            )
    renamed: dict[str, CorpusEntry] = {}
    for entry in entries:
        if not entry.renamed_from:
            continue
        if entry.renamed_from in first_by_key:
            diagnostics.append(
                Diagnostic(
                    entry.location,
                    "bad-rename",
                    f"'Renamed from: {entry.renamed_from}' names a note that still exists",
                )
            )
        other = renamed.setdefault(entry.renamed_from, entry)
        if other is not entry:
            diagnostics.append(
                Diagnostic(
                    entry.location,
                    "bad-rename",
                    f"{other.key!r} is already renamed from {entry.renamed_from!r}: only one "
                    "note can take over a key",
                )
            )
    first_by_fact: dict[_Fact, tuple[str, Location]] = {}
    for entry in entries:
        for fact, where in entry.facts:
            other_key, other_at = first_by_fact.setdefault(fact, (entry.key, where))
            if other_key != entry.key:
                diagnostics.append(
                    Diagnostic(
                        where,
                        "duplicate-fact",
                        f"same question and answer as {other_key!r} at {other_at}; "
                        "keep the fact in one note",
                    )
                )
    return diagnostics


def check_file(
    file: NoteFile, source: SourceFile, media: MediaLibrary
) -> tuple[list[Note], list[Diagnostic]]:
    """Check every note of one parsed file."""
    diagnostics: list[Diagnostic] = []
    notes = []
    for written in source.notes:
        note = check_note(source, file, written, media, diagnostics)
        if note is not None:
            notes.append(note)
    return notes, diagnostics
