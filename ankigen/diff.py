"""What changed between two builds: notes added, changed (before/after), retired, renamed, removed.

Either side is an ``.apkg`` file or a git revision of the sources; a revision is checked
out into a temporary folder and built there with its own lock, so a reviewer sees the
deck a pull request would ship. Renames are known only from locks (git revisions).
"""

from __future__ import annotations

import html
import io
import json
import re
import sqlite3
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ankigen.build import BuildOptions, build, deck_path
from ankigen.lock import RETIRED_TAG, read_lock

_TAG = re.compile(r"<[^>]+>")


class DiffError(Exception):
    """A side of the diff could not be read or built (reported to the user, no traceback)."""


@dataclass(frozen=True, slots=True)
class PackagedView:
    """A note as read back from a package."""

    guid: str
    """Identity."""
    note_type: str
    """Note type name."""
    fields: tuple[tuple[str, str], ...]
    """(field name, HTML) pairs in order."""
    tags: frozenset[str]
    """Tags."""

    @property
    def subject(self) -> str:
        """The first field as plain text."""
        return _text(self.fields[0][1]) if self.fields else self.guid


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a diff: its notes and, when known, each GUID's key."""

    label: str
    """What the user named."""
    notes: Mapping[str, PackagedView]
    """By GUID."""
    keys: Mapping[str, str]
    """GUID -> key, from the side's lock (empty for a bare package)."""


@dataclass(frozen=True, slots=True)
class Report:
    """The differences, each list sorted by subject."""

    added: tuple[PackagedView, ...]
    changed: tuple[tuple[PackagedView, PackagedView], ...]
    retired: tuple[PackagedView, ...]
    renamed: tuple[tuple[str, str], ...]
    removed: tuple[PackagedView, ...]

    @property
    def empty(self) -> bool:
        """True when the two sides ship the same notes."""
        return not (self.added or self.changed or self.retired or self.renamed or self.removed)


def _text(value: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", value)).split())


def read_package(path: Path) -> dict[str, PackagedView]:
    """Read the notes of an ``.apkg`` by GUID."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read("collection.anki2")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise DiffError(f"{path}: not a readable .apkg ({exc})") from None
    with tempfile.TemporaryDirectory(prefix="ankigen-diff-") as scratch:
        db = Path(scratch) / "collection.anki2"
        db.write_bytes(data)
        connection = sqlite3.connect(db)
        try:
            (models_json,) = connection.execute("select models from col").fetchone()
            rows = connection.execute("select guid, mid, tags, flds from notes").fetchall()
        finally:
            connection.close()
    models = json.loads(models_json)
    notes = {}
    for guid, mid, tags, flds in rows:
        model = models[str(mid)]
        names = [f["name"] for f in model["flds"]]
        values = flds.split("\x1f")
        notes[guid] = PackagedView(
            guid=guid,
            note_type=model["name"],
            fields=tuple(zip(names, values, strict=False)),
            tags=frozenset(tags.split()),
        )
    return notes


def _git_side(revision: str, source_dir: Path, work: Path) -> Side:
    """Build the sources as they are at a git revision."""
    try:
        top = Path(
            subprocess.run(
                ["git", "rev-parse", "--show-toplevel"],
                cwd=source_dir if source_dir.is_dir() else Path.cwd(),
                capture_output=True, text=True, check=True,
            ).stdout.strip()
        )  # fmt: skip
        relative = source_dir.resolve().relative_to(top).as_posix()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "--", relative],
            cwd=top, capture_output=True, check=True,
        ).stdout  # fmt: skip
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = detail.decode(errors="replace").strip() if isinstance(detail, bytes) else ""
        raise DiffError(f"{revision}: not a package file or a git revision {message}") from None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    sources = work / relative
    result = build(BuildOptions(source_dir=sources, build_dir=work / "build", now=0))
    if not result.ok:
        raise DiffError(f"{revision}: the sources do not build ({len(result.diagnostics)} errors)")
    lock, _ = read_lock(sources / "ankigen.lock", "ankigen.lock")
    keys = {n.guid: key for key, n in lock.notes.items()} if lock else {}
    return Side(revision, read_package(deck_path(work / "build")), keys)


def load_side(spec: str, source_dir: Path, work: Path) -> Side:
    """An ``.apkg`` path, or else a git revision of ``source_dir``."""
    path = Path(spec)
    if path.is_file():
        return Side(spec, read_package(path), {})
    return _git_side(spec, source_dir, work)


def compare(old: Side, new: Side) -> Report:
    """The differences between two sides, matched by GUID as Anki matches them."""
    added, changed, retired, removed = [], [], [], []
    for guid, note in new.notes.items():
        before = old.notes.get(guid)
        if before is None:
            added.append(note)
        elif RETIRED_TAG in note.tags and RETIRED_TAG not in before.tags:
            retired.append(note)
        elif (before.fields, before.tags) != (note.fields, note.tags):
            changed.append((before, note))
    removed = [note for guid, note in old.notes.items() if guid not in new.notes]
    renamed = sorted(
        (old.keys[guid], new.keys[guid])
        for guid in set(old.keys) & set(new.keys)
        if old.keys[guid] != new.keys[guid]
    )
    return Report(
        added=tuple(sorted(added, key=lambda n: n.subject)),
        changed=tuple(sorted(changed, key=lambda pair: pair[1].subject)),
        retired=tuple(sorted(retired, key=lambda n: n.subject)),
        renamed=tuple(renamed),
        removed=tuple(sorted(removed, key=lambda n: n.subject)),
    )


def _listing(title: str, notes: tuple[PackagedView, ...]) -> list[str]:
    if not notes:
        return []
    return [f"### {title}", "", *(f"- **{n.subject}** ({n.note_type})" for n in notes), ""]


def format_report(report: Report, old: str, new: str) -> str:
    """Markdown for a pull request comment or a terminal."""
    lines = [f"## Deck changes: `{old}` → `{new}`", ""]
    if report.empty:
        return "\n".join([*lines, "No note changes."])
    counts = (
        f"{len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.retired)} retired, {len(report.renamed)} renamed, "
        f"{len(report.removed)} removed"
    )
    lines += [counts, ""]
    lines += _listing("Added", report.added)
    if report.changed:
        lines += ["### Changed", ""]
        for before, after in report.changed:
            lines.append(f"- **{after.subject}** ({after.note_type})")
            old_fields = dict(before.fields)
            for name, value in after.fields:
                if old_fields.get(name, "") != value:
                    lines.append(f"  - {name}")
                    lines.append(f"    - before: {_text(old_fields.get(name, '')) or '(empty)'}")
                    lines.append(f"    - after: {_text(value) or '(empty)'}")
            added_tags = sorted(after.tags - before.tags)
            dropped_tags = sorted(before.tags - after.tags)
            if added_tags or dropped_tags:
                tags = [f"+{t}" for t in added_tags] + [f"-{t}" for t in dropped_tags]
                lines.append(f"  - tags: {' '.join(tags)}")
        lines.append("")
    lines += _listing("Retired (still shipped, tagged `ankigen::retired`)", report.retired)
    if report.renamed:
        lines += ["### Renamed (same note in learners' collections)", ""]
        lines += [f"- `{a}` → `{b}`" for a, b in report.renamed]
        lines.append("")
    lines += _listing("Removed from the package (learners keep them, untagged)", report.removed)
    return "\n".join(lines).rstrip() + "\n"
