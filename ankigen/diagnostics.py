"""Locations, diagnostics and the one output format `path:line:col: severity: message [code]`."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType


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
        return f"{self.path}:{self.line}:{self.column}"

    def __reduce__(self) -> tuple[type[Location], tuple[str, int, int]]:
        # Pickled by the build cache by the thousand: a plain constructor call is much
        # faster than the generic frozen-dataclass state restore.
        return (Location, (self.path, self.line, self.column))


class Severity(enum.StrEnum):
    """How bad a diagnostic is: errors stop the build, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


#: Every diagnostic code, with what it means. Tests check that each has a broken-input case.
CODES: MappingProxyType[str, str] = MappingProxyType(
    {
        "not-utf8": "the file is not valid UTF-8",
        "unreadable-file": "the file or folder could not be read",
        "missing-source": "the source folder does not exist",
        "front-matter": "the front matter is malformed or has an unknown key",
        "bad-key": "a note key is not of the form kind/name",
        "unknown-kind": "the key's kind is not one of the known kinds",
        "missing-label": "a field item does not start with a bold 'Label:'",
        "unknown-field": "a field label is not a field of the note's kind",
        "repeated-field": "a field is given twice in one note",
        "missing-field": "a required field is absent",
        "empty-field": "a field has a label but no value",
        "stray-content": "content inside a note that is not part of a field",
        "bad-tag": "a tag contains spaces or is empty",
        "unknown-exam": "an exam tag names an exam not in the taxonomy",
        "unknown-domain": "an exam tag names a domain the exam does not have",
        "unknown-task": "an exam tag names a task the domain does not have",
        "missing-exam-tag": "a note has no exam tag",
        "malformed-math": "math that is unclosed or has unbalanced braces or environments",
        "raw-html": "raw HTML in a note (write Markdown instead)",
        "unsafe-link": "a link whose scheme could run code or leak data",
        "remote-resource": "an image or other resource that would load from the network",
        "missing-media": "an image that is not under the media folder or cannot be read",
        "unsafe-media": "an SVG image with scripts, event handlers or external references",
        "too-deep": "lists or quotes nested too deeply to parse safely",
        "file-too-large": "a note file larger than the limit",
        "no-notes": "a note file with no notes in it",
        "duplicate-key": "two notes share a key",
        "duplicate-fact": "two notes ask the same question with the same answer",
        "empty-corpus": "the source folder holds no notes",
        "bad-rename": "a 'Renamed from:' that names no previous key or a note that still exists",
        "stale-lock": "the lock file does not match the sources; run 'ankigen build'",
        "bad-lock": "the lock file cannot be read",
        "note-type-changed": "a note type's model id or field names changed incompatibly",
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
        """Render as ``path:line:col: severity: message [code]``."""
        return f"{self.location}: {self.severity}: {self.message} [{self.code}]"

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
