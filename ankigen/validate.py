"""Source notes -> typed notes, and the corpus-wide checks (duplicate keys, duplicate facts).

Every problem becomes a :class:`Diagnostic`; a note with any error is left out of the
result, and the build refuses to write when any error exists, so nothing is dropped
silently.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ankigen.cards import KINDS, KindSpec, Note, normalise_label
from ankigen.config import EXAM_TAG_PREFIX, EXAMS, KIND_TAG_PREFIX, ROOT_DECK
from ankigen.diagnostics import Diagnostic, Location
from ankigen.parse import Located, SourceField, SourceFile, SourceNote

_KEY = re.compile(r"^[a-z0-9]+(?:/[a-z0-9]+(?:[-_.][a-z0-9]+)*)+$")
_TAG = re.compile(r'^[^\s"]+$')
#: Labels that set a note's metadata rather than a field.
META_LABELS = ("Tags", "Deck", "Renamed from")


_Fact = bytes  # a digest of one card's normalised question and answer


@dataclass(frozen=True, slots=True)
class CheckedNote:
    """A note that passed the file-local checks, with what the corpus checks compare."""

    note: Note
    """The typed note."""
    facts: tuple[tuple[_Fact, int, int], ...]
    """Each card's normalised question and answer, and the line and column of its field
    (in the note's file): plain numbers, as notes by the ten thousand are cached."""


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def check_tag(tag: Located) -> Diagnostic | None:
    """Check one tag, and exam tags against the taxonomy in ``config.EXAMS``."""
    problem = _tag_problem(tag.value)
    return None if problem is None else Diagnostic(tag.location, *problem)


@functools.lru_cache(maxsize=4096)
def _tag_problem(value: str) -> tuple[str, str] | None:
    """(code, message) of what is wrong with a tag, if anything.

    Cached by value: a deck uses a few dozen distinct tags on thousands of notes.
    """
    if not value or not _TAG.match(value):
        return ("bad-tag", f"tag {value!r} must be non-empty with no spaces or quotes")
    parts = value.split("::")
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


def _deck_name(deck: Located | None) -> tuple[str, Diagnostic | None]:
    if deck is None:
        return ROOT_DECK, None
    name = _full_deck_name(deck.value)
    if name is None:
        return ROOT_DECK, Diagnostic(
            deck.location, "front-matter", f"deck {deck.value!r} has an empty part between '::'"
        )
    return name, None


@functools.lru_cache(maxsize=1024)
def _full_deck_name(value: str) -> str | None:
    """The full deck name for a ``deck:`` value, or None if a part is empty."""
    parts = [p.strip() for p in value.split("::")]
    return "::".join([ROOT_DECK, *parts]) if all(parts) else None


#: The attributes of each kind's required fields.
_REQUIRED = {name: tuple(f.attr for f in kind.fields if f.required) for name, kind in KINDS.items()}


def _split_tags(field: SourceField) -> list[Located]:
    return [Located(t, field.location) for t in re.split(r"[,\s]+", field.text) if t]


def _check_note(source: SourceFile, note: SourceNote, out: list[Diagnostic]) -> CheckedNote | None:
    key = note.key
    if not _KEY.match(key.value):
        out.append(
            Diagnostic(
                key.location,
                "bad-key",
                f"key {key.value!r} must be 'kind/name' in lower case letters, digits and "
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
    values: dict[str, SourceField] = {}
    tags: list[Located] = list(source.tags)
    deck = source.deck
    renamed_from = ""
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
        if label == "tags":
            tags.extend(_split_tags(item))
            continue
        if label == "deck":
            deck = Located(item.text, item.location)
            continue
        if label == "renamed from":
            renamed_from = item.text.strip("`").strip()
            if not _KEY.match(renamed_from) or renamed_from == key.value:
                out.append(
                    Diagnostic(
                        item.label.location,
                        "bad-rename",
                        f"'Renamed from:' needs the note's previous key, got {renamed_from!r}",
                    )
                )
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
        if not item.html.strip():
            if item.refused:
                continue  # already reported: what was refused is why it is empty
            out.append(
                Diagnostic(
                    item.label.location,
                    "empty-field",
                    f"field {spec.label!r} is empty; give it a value or remove the line",
                )
            )
            continue
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

    for spec in kind.fields:
        if not spec.versus:
            continue
        partner = kind.field_by_label(spec.versus)
        assert partner is not None, spec.versus
        for given, missing in ((spec, partner), (partner, spec)):
            if given.attr in values and missing.attr not in values:
                out.append(
                    Diagnostic(
                        values[given.attr].label.location,
                        "missing-field",
                        f"'{given.label}' needs a '**{missing.label}:**' field too: "
                        f"the card's front names both sides ('{kind.subject.label} vs "
                        f"{spec.versus}: {spec.prompt}')",
                    )
                )

    for tag in tags:
        problem = check_tag(tag)
        if problem:
            out.append(problem)
    tag_values = {t.value for t in tags}
    if not any(t.startswith(f"{EXAM_TAG_PREFIX}::") for t in tag_values):
        out.append(
            Diagnostic(
                key.location,
                "missing-exam-tag",
                "note has no exam tag; add one such as 'exam::MLA-C01::D2-Model-Development' "
                "to the file's 'tags:' or the note's '**Tags:**'",
            )
        )
    deck_name, deck_problem = _deck_name(deck)
    if deck_problem:
        out.append(deck_problem)

    if len(out) > errors_before or any(attr not in values for attr in _REQUIRED[kind.name]):
        return None  # every reason is reported, here or by the parser
    card = kind.model(**{attr: field.html for attr, field in values.items()})
    built = Note(
        key=key.value,
        kind=kind,
        card=card,
        deck=deck_name,
        tags=tuple(sorted(tag_values | {f"{KIND_TAG_PREFIX}::{kind.name}"})),
        location=key.location,
        renamed_from=renamed_from,
    )
    return CheckedNote(built, _facts(kind, values))


def _facts(kind: KindSpec, values: dict[str, SourceField]) -> tuple[tuple[_Fact, int, int], ...]:
    subject = _normalise(values[kind.subject.attr].text)
    facts = []
    for spec in kind.card_fields:
        item = values.get(spec.attr)
        if item is None:
            continue
        question = subject if not spec.prompt else f"{subject}: {spec.prompt}"
        digest = hashlib.blake2b(f"{question}\0{_normalise(item.text)}".encode(), digest_size=12)
        facts.append((digest.digest(), item.location.line, item.location.column))
    return tuple(facts)


def check_file(source: SourceFile) -> tuple[list[CheckedNote], list[Diagnostic]]:
    """The checks that need only one file: kinds, fields, tags, decks."""
    diagnostics: list[Diagnostic] = []
    checked: list[CheckedNote] = []
    for note in source.notes:
        result = _check_note(source, note, diagnostics)
        if result is not None:
            checked.append(result)
    return checked, diagnostics


def check_corpus(checked: Sequence[CheckedNote]) -> list[Diagnostic]:
    """The checks across files: duplicate keys and duplicate facts."""
    diagnostics: list[Diagnostic] = []
    first_by_key: dict[str, Note] = {}
    for item in checked:
        other = first_by_key.setdefault(item.note.key, item.note)
        if other is not item.note:
            diagnostics.append(
                Diagnostic(
                    item.note.location,
                    "duplicate-key",
                    f"key {item.note.key!r} is already used at {other.location}",
                )
            )

    first_by_fact: dict[_Fact, tuple[Note, int, int]] = {}
    for item in checked:
        for fact, line, column in item.facts:
            other, other_line, other_column = first_by_fact.setdefault(
                fact, (item.note, line, column)
            )
            if other is not item.note and other.key != item.note.key:
                other_at = Location(other.location.path, other_line, other_column)
                diagnostics.append(
                    Diagnostic(
                        Location(item.note.location.path, line, column),
                        "duplicate-fact",
                        f"same question and answer as {other.key!r} at {other_at}; "
                        "keep the fact in one note",
                    )
                )
    return diagnostics


def validate(sources: Sequence[SourceFile]) -> tuple[list[Note], list[Diagnostic]]:
    """Turn parsed files into typed notes and find every problem, file-local and corpus-wide."""
    diagnostics: list[Diagnostic] = []
    checked: list[CheckedNote] = []
    for source in sources:
        notes, problems = check_file(source)
        checked.extend(notes)
        diagnostics.extend(problems)
    diagnostics.extend(check_corpus(checked))
    return [c.note for c in checked], diagnostics
