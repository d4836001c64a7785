"""Locations, diagnostics and the one output format `path:line:col: severity: message [code]`."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

#: Characters that may not print as they are: controls (a newline would forge a diagnostic
#: line) and line and paragraph separators.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x0a``), so that it prints on one line."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a source file. Lines and columns are 1-based."""

    path: str
    """The file as shown to the user (relative to the working directory where possible)."""
    line: int = 1
    """1-based line number."""
    column: int = 1
    """1-based column, counted in characters. 1 where finer precision is not known."""

    def __str__(self) -> str:
        return f"{printable(self.path)}:{self.line}:{self.column}"


class Severity(enum.StrEnum):
    """How bad a diagnostic is: errors stop the build, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


#: Every diagnostic code, with what it means. Tests check that each has a broken-input case.
CODES: MappingProxyType[str, str] = MappingProxyType(
    {
        # reading the source folder
        "missing-source": "the source folder does not exist or cannot be opened",
        "unreadable-file": "a file or folder could not be read",
        "symlink": "a symbolic link inside the source folder (only real files are read)",
        "file-too-large": "a note or media file larger than the limit",
        "not-utf8": "the file is not valid UTF-8",
        "control-character": "a control character in a note file (Anki uses some as separators)",
        # the shape of a note file
        "front-matter": "the front matter is malformed, has an unknown key or repeats one",
        "no-notes": "a note file with no notes in it",
        "too-deep": "lists or quotes nested too deeply to parse safely",
        "too-complex": "a paragraph too long to parse in bounded time",
        "bad-key": "a note key is not of the form kind/name",
        "unknown-kind": "the key's kind is not one of the known kinds",
        "missing-label": "a field item does not start with a bold 'Label:'",
        "unknown-field": "a field label is not a field of the note's kind",
        "repeated-field": "a field is given twice in one note",
        "missing-field": "a required field is absent",
        "empty-field": "a field has a label but no value",
        "stray-content": "content inside a note that is not part of a field",
        # tags and decks
        "bad-tag": "a tag outside the tag syntax (letters, digits, '-', '_', '.', '::')",
        "reserved-tag": "a tag that only the build may give (ankigen::..., kind::...)",
        "unknown-exam": "an exam tag names an exam not in the taxonomy",
        "unknown-domain": "an exam tag names a domain the exam does not have",
        "unknown-task": "an exam tag names a task the domain does not have",
        "missing-exam-tag": "a note has no exam tag",
        "bad-deck": "a deck name outside the deck syntax",
        # what a value may hold
        "raw-html": "raw HTML in a note (write Markdown instead)",
        "unsafe-link": "a link that is not http:, https: or mailto:",
        "remote-resource": "an image that would load from the network",
        "missing-media": "an image that is not a file under the media folder",
        "bad-media-name": "an image file name outside the allowed characters",
        "unsafe-media": "an image whose content is not what its name says or cannot be made safe",
        "malformed-math": "math that is unclosed or has unbalanced braces or environments",
        "unsafe-math": "a TeX command or environment outside the allow list",
        # card quality
        "long-list": "an answer with a list of more than five items",
        "answer-on-front": "a card whose front already contains its answer",
        "dangling-reference": "an answer that points to another note instead of answering",
        # across notes, and the change record
        "duplicate-key": "two notes share a key",
        "duplicate-fact": "two notes ask the same question with the same answer",
        "empty-corpus": "the source folder holds no notes",
        "bad-rename": "a 'Renamed from:' that is malformed, crosses kinds or names a live note",
        "removed-note": "a note in the change record is gone from the sources",
        "bad-lock": "the change record cannot be read",
        "recovered-lock": "the change record was missing and was recovered",
        "assumed-time": "a change time that could not be derived and was assumed",
        "note-type-changed": "a note type's model id or field names changed incompatibly",
        # writing
        "write-failed": "an output file could not be written",
    }
)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in the sources."""

    location: Location
    """Where the problem is."""
    code: str
    """Stable kebab-case identifier from :data:`CODES`."""
    message: str
    """What is wrong and, where possible, the valid choices."""
    severity: Severity = Severity.ERROR
    """Errors stop the build."""

    def __post_init__(self) -> None:
        assert self.code in CODES, f"undeclared diagnostic code {self.code!r}"

    def format(self) -> str:
        """Render as ``path:line:col: severity: message [code]``, on one line."""
        return f"{self.location}: {self.severity}: {printable(self.message)} [{self.code}]"

    def as_json(self) -> dict[str, str | int]:
        """Render as a JSON-ready mapping with the same information as :meth:`format`."""
        return {
            "path": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
        }


def warning(location: Location, code: str, message: str) -> Diagnostic:
    """A diagnostic that is reported but does not stop the build."""
    return Diagnostic(location, code, message, Severity.WARNING)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by location, then code, and drop exact repeats."""
    unique = set(diagnostics)
    return sorted(unique, key=lambda d: (d.location, d.code, d.message))


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """True if any diagnostic is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


def summary(diagnostics: Iterable[Diagnostic]) -> str:
    """A one-line count of errors and warnings and the files they are in."""
    items = list(diagnostics)
    errors = sum(d.severity is Severity.ERROR for d in items)
    warnings = len(items) - errors
    files = len({d.location.path for d in items})
    parts = [f"{errors} error{'s' * (errors != 1)}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return f"{', '.join(parts)} in {files} file{'s' * (files != 1)}"


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    """All diagnostics as one JSON document (for editors and CI)."""
    items = [d.as_json() for d in diagnostics]
    return json.dumps({"diagnostics": items}, indent=2, sort_keys=True)
