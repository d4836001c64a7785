"""What changed between two builds: notes added, changed, retired, renamed and removed.

Either side is a git revision of the sources or an ``.apkg`` file. A revision's files are
read from git (plain files only) and checked by the same pipeline as a build; its notes
are compared as Markdown, which is what a reviewer should read. A package's notes are
compared as the text of their HTML. The report is Markdown for a pull request: every
value a note wrote sits in a fenced block, so nothing from a note is rendered as HTML or
Markdown on GitHub, and :func:`split_report` keeps a comment under GitHub's size limit.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ankigen.build import BuildOptions, check
from ankigen.config import RETIRED_TAG
from ankigen.history import GitError, Repository

_TAG = re.compile(r"<[^>]+>")
#: GitHub refuses comments over 65,536 characters; stay well below.
COMMENT_LIMIT = 60_000


class DiffError(Exception):
    """A side of the diff could not be read or checked (reported without a traceback)."""


@dataclass(frozen=True, slots=True)
class NoteView:
    """A note as one side of the diff sees it."""

    guid: str
    """Identity, as Anki matches notes."""
    key: str
    """The note's key, or its first field's text for a package."""
    kind: str
    """Kind or note type name."""
    deck: str
    """Full deck name."""
    tags: frozenset[str]
    """Tags."""
    fields: tuple[tuple[str, str], ...]
    """(field name, value) pairs: Markdown as written, or a package's text."""


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a diff."""

    label: str
    """What the user named."""
    notes: Mapping[str, NoteView]
    """By GUID."""
    keyed: bool = True
    """True if the notes' keys are known (a git revision; a package has none)."""


@dataclass(frozen=True, slots=True)
class Report:
    """The differences, each list sorted by key."""

    added: tuple[NoteView, ...]
    changed: tuple[tuple[NoteView, NoteView], ...]
    retired: tuple[NoteView, ...]
    renamed: tuple[tuple[str, str], ...]
    removed: tuple[NoteView, ...]

    @property
    def empty(self) -> bool:
        """True when the two sides ship the same notes."""
        return not (self.added or self.changed or self.retired or self.renamed or self.removed)


def _text(value: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", value)).split())


#: A package's collection larger than this (uncompressed) is refused rather than read.
MAX_COLLECTION_BYTES = 256 * 1024 * 1024


def read_package(path: Path) -> dict[str, NoteView]:
    """Read the notes of an ``.apkg`` by GUID; anything malformed is a :class:`DiffError`."""
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("collection.anki2").file_size > MAX_COLLECTION_BYTES:
                raise DiffError(f"{path}: the collection is larger than this tool reads")
            data = archive.read("collection.anki2")
        with tempfile.TemporaryDirectory(prefix="ankigen-diff-") as scratch:
            database = Path(scratch) / "collection.anki2"
            database.write_bytes(data)
            connection = sqlite3.connect(database)
            try:
                (models_json,) = connection.execute("SELECT models FROM col").fetchone()
                (decks_json,) = connection.execute("SELECT decks FROM col").fetchone()
                rows = connection.execute(
                    "SELECT n.guid, n.mid, n.tags, n.flds, min(c.did) FROM notes n "
                    "JOIN cards c ON c.nid = n.id GROUP BY n.id"
                ).fetchall()
            finally:
                connection.close()
        models, decks = json.loads(models_json), json.loads(decks_json)
        if not isinstance(models, dict) or not isinstance(decks, dict):
            raise ValueError("models and decks must be JSON objects")
        notes = {}
        for guid, mid, tags, flds, did in rows:
            if not all(isinstance(v, str) for v in (guid, tags, flds)):
                raise ValueError("a note row is not text")
            model = models[str(mid)]
            names = [f["name"] for f in model["flds"]]
            values = [_text(v) for v in flds.split("\x1f")]
            notes[guid] = NoteView(
                guid=guid,
                key=values[0] if values else guid,
                kind=str(model["name"]),
                deck=str(decks.get(str(did), {}).get("name", "")),
                tags=frozenset(tags.split()),
                fields=tuple(zip(names, values, strict=False)),
            )
    except (
        OSError, KeyError, TypeError, ValueError, AttributeError, RecursionError,
        zipfile.BadZipFile, sqlite3.Error,
    ) as exc:  # fmt: skip
        raise DiffError(f"{path}: not a readable .apkg ({type(exc).__name__})") from None
    return notes


def _git_side(revision: str, source_dir: Path, work: Path) -> Side:
    """The sources as they are at a git revision, checked."""
    if revision.startswith("-"):
        raise DiffError(f"{revision}: not a package file or a git revision")
    repository = Repository.find(source_dir if source_dir.is_dir() else Path.cwd())
    if repository is None:
        raise DiffError(
            f"{revision}: not a package file, and {source_dir} is not in a git checkout"
        )
    try:
        relative = repository.relative(source_dir)
        files = repository.revision_files(revision, relative)
    except GitError as exc:
        raise DiffError(f"{revision}: not a package file or a git revision ({exc})") from None
    except ValueError:
        raise DiffError(f"{source_dir} is outside the git checkout") from None
    odd = sorted(path for path, data in files.items() if data is None)
    if odd:
        raise DiffError(
            f"{revision}: {odd[0]!r} is a symbolic link or submodule; only plain files can be notes"
        )
    root = work / "sources"
    try:
        for path, data in sorted(files.items()):
            inner = Path(path).relative_to(relative) if relative != "." else Path(path)
            if data is None or ".." in inner.parts or inner == Path():
                raise DiffError(f"{revision}: {relative!r} is not a folder of notes there")
            target = root / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        root.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:
        raise DiffError(f"{revision}: cannot read its sources ({exc})") from None
    result = check(BuildOptions(source_dir=root, build_dir=work / "build", now=0))
    if not result.ok or result.settlement is None:
        errors = sum(1 for d in result.diagnostics if d.severity == "error")
        raise DiffError(f"{revision}: the sources do not check ({errors} errors)")
    notes = {}
    for note in result.corpus.notes:
        guid = result.settlement.guids[note.key]
        fields = tuple(
            (spec.label, value.source)
            for spec, value in zip(note.kind.fields, note.values(), strict=True)
            if value is not None
        )
        notes[guid] = NoteView(
            guid, note.key, note.kind.name, note.deck, frozenset(note.tags), fields
        )
    return Side(revision, notes)


def load_side(spec: str, source_dir: Path, work: Path) -> Side:
    """An ``.apkg`` path, or else a git revision of ``source_dir``."""
    path = Path(spec)
    if path.is_file():
        return Side(spec, read_package(path), keyed=False)
    return _git_side(spec, source_dir, work)


def compare(old: Side, new: Side) -> Report:
    """The differences between two sides, matched by GUID as Anki matches them."""
    added, changed, retired = [], [], []
    renamed = []
    for guid, note in new.notes.items():
        before = old.notes.get(guid)
        if before is None:
            added.append(note)
            continue
        if old.keyed and new.keyed and before.key != note.key:
            renamed.append((before.key, note.key))
        if RETIRED_TAG in note.tags and RETIRED_TAG not in before.tags:
            retired.append(note)
        elif (before.fields, before.tags, before.deck) != (note.fields, note.tags, note.deck):
            changed.append((before, note))
    removed = [note for guid, note in old.notes.items() if guid not in new.notes]
    return Report(
        added=tuple(sorted(added, key=lambda n: n.key)),
        changed=tuple(sorted(changed, key=lambda pair: pair[1].key)),
        retired=tuple(sorted(retired, key=lambda n: n.key)),
        renamed=tuple(sorted(set(renamed))),
        removed=tuple(sorted(removed, key=lambda n: n.key)),
    )


def _code(text: str) -> str:
    """``text`` as an inline code span that shows it literally."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _block(text: str) -> list[str]:
    """``text`` as a fenced block that shows it literally."""
    run = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (run + 1)
    return [f"{fence}text", text or "(empty)", fence]


def _note_heading(note: NoteView) -> str:
    return f"#### {_code(note.key)} ({note.kind})"


def _meta(note: NoteView) -> list[str]:
    tags = " ".join(_code(t) for t in sorted(note.tags))
    return [f"deck {_code(note.deck)}", "", f"tags {tags}", ""]


def format_report(report: Report, old: str, new: str) -> str:
    """The full report, as Markdown."""
    lines = [f"## Deck changes: {_code(old)} → {_code(new)}", ""]
    if report.empty:
        return "\n".join([*lines, "No note changes.", ""])
    lines += [_counts(report), ""]
    if report.added:
        lines += ["### Added", ""]
        for note in report.added:
            lines += [_note_heading(note), "", *_meta(note)]
            for name, value in note.fields:
                lines += [f"**{name}**", "", *_block(value), ""]
    if report.changed:
        lines += ["### Changed", ""]
        for before, after in report.changed:
            lines += [_note_heading(after), ""]
            old_fields, new_fields = dict(before.fields), dict(after.fields)
            for name in dict.fromkeys([*old_fields, *new_fields]):
                if old_fields.get(name) != new_fields.get(name):
                    lines += [f"**{name}**, before:", "", *_block(old_fields.get(name, "")), ""]
                    lines += [f"**{name}**, after:", "", *_block(new_fields.get(name, "")), ""]
            if before.deck != after.deck:
                lines += [f"deck {_code(before.deck)} → {_code(after.deck)}", ""]
            added_tags = sorted(after.tags - before.tags)
            dropped_tags = sorted(before.tags - after.tags)
            if added_tags or dropped_tags:
                tags = [f"+{_code(t)}" for t in added_tags] + [f"-{_code(t)}" for t in dropped_tags]
                lines += ["tags " + " ".join(tags), ""]
    if report.retired:
        lines += ["### Retired (still shipped, tagged `ankigen::retired`)", ""]
        lines += [f"- {_code(n.key)} ({n.kind})" for n in report.retired] + [""]
    if report.renamed:
        lines += ["### Renamed (same note in learners' collections)", ""]
        lines += [f"- {_code(a)} → {_code(b)}" for a, b in report.renamed] + [""]
    if report.removed:
        lines += ["### Removed from the package (learners keep their copies, untagged)", ""]
        lines += [f"- {_code(n.key)} ({n.kind})" for n in report.removed] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _counts(report: Report) -> str:
    return (
        f"{len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.retired)} retired, {len(report.renamed)} renamed, "
        f"{len(report.removed)} removed"
    )


def split_report(report: str, full_path: Path | None, limit: int = COMMENT_LIMIT) -> str:
    """The report if it fits a pull request comment, else its opening lines and section
    headings with a pointer to the full report."""
    if len(report) <= limit:
        return report
    kept: list[str] = []
    size = 0
    note = (
        f"\n**The report is {len(report):,} characters, more than a comment holds.** "
        "This comment shows its beginning; the full report"
        + (f" ({_code(full_path.name)})" if full_path else "")
        + " is attached to the workflow run as the artefact `deck-diff`.\n"
    )
    fence = ""
    for line in report.split("\n"):
        if size + len(line) + 1 > limit - len(note) - 200:
            break
        kept.append(line)
        size += len(line) + 1
        if not fence and re.match(r"^`{3,}text$", line):
            fence = line.removesuffix("text")
        elif fence and line == fence:
            fence = ""
    if fence:  # a fenced block was cut: close it
        kept.append(fence)
    return "\n".join(kept).rstrip() + "\n\n…\n" + note
