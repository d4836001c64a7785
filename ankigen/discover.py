"""The source folder -> note files as text, and the media files they may show.

This is the only module that reads the source folder. Only real files inside it are
read: a symbolic link anywhere under it, a file over its size limit or a file that is not
UTF-8 is a located error, never followed, truncated or guessed at. Files are opened
without following links, so a link swapped in after the walk is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ankigen.diagnostics import Diagnostic, Location

#: Files under the source folder that are documentation or records, never notes.
NON_NOTE_FILES = frozenset({"README.md", "CONTRIBUTING.md"})
#: The folder, directly under the source folder, that holds images.
MEDIA_DIR_NAME = "media"
#: A topic file is a few kilobytes (the largest in the deck is about 20 KB). The limit
#: bounds what one file can cost to check: see ``parse.MAX_INLINE_CHARS``.
MAX_NOTE_BYTES = 64 * 1024
#: An image on a card; the deck's diagrams are a few kilobytes.
MAX_MEDIA_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class NoteFile:
    """One note file's text."""

    display: str
    """The file as shown in diagnostics."""
    relative: str
    """Its path inside the source folder, ``/``-separated."""
    text: str
    """Its content, decoded."""


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One file of the media folder: read only when a note shows it."""

    relative: str
    """Its path inside the media folder, ``/``-separated."""
    display: str
    """The file as shown in diagnostics."""
    path: Path
    """Where it is."""

    def read(self) -> tuple[bytes | None, Diagnostic | None]:
        """Its bytes (a regular file, not followed through a link, within the size limit)."""
        return read_regular(self.path, MAX_MEDIA_BYTES, self.display)


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything the build may read: note files read, media files found."""

    root: Path
    """The source folder, resolved."""
    notes: tuple[NoteFile, ...]
    """Note files, sorted by path."""
    media: MappingProxyType[str, MediaFile] = field(default_factory=lambda: MappingProxyType({}))
    """Media files by their path inside the media folder (read when a note shows one)."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """What could not be read."""


def display_path(path: Path) -> str:
    """A path as shown to users: relative to the working directory where possible."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def read_regular(path: Path, limit: int, display: str) -> tuple[bytes | None, Diagnostic | None]:
    """A regular file's bytes, read without following a symbolic link, up to ``limit``."""
    where = Location(display)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        handle = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, _symlink(where)
        return None, _unreadable(where, exc)
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            return None, Diagnostic(where, "unreadable-file", "not a regular file")
        if info.st_size > limit:
            return None, _too_large(where, info.st_size, limit)
        with os.fdopen(handle, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        return None, _unreadable(where, exc)
    finally:
        os.close(handle)
    if len(data) > limit:
        return None, _too_large(where, len(data), limit)
    return data, None


def decode(data: bytes, display: str) -> tuple[str | None, Diagnostic | None]:
    """Decode UTF-8 (with or without BOM), or locate the first undecodable byte."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
        message = f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        return None, Diagnostic(Location(display, line, column), "not-utf8", message)


def _symlink(where: Location) -> Diagnostic:
    return Diagnostic(
        where,
        "symlink",
        "symbolic links are not read: only files inside the source folder are; "
        "replace the link with the file itself",
    )


def _unreadable(where: Location, exc: OSError) -> Diagnostic:
    reason = exc.strerror or type(exc).__name__
    return Diagnostic(where, "unreadable-file", f"cannot read: {reason}")


def _too_large(where: Location, size: int, limit: int) -> Diagnostic:
    return Diagnostic(
        where,
        "file-too-large",
        f"file is {size:,} bytes; the limit is {limit:,}: split it (notes) or shrink it (images)",
    )


def _walk(folder: Path, problems: list[Diagnostic]) -> Iterator[tuple[Path, str]]:
    """Every regular file under ``folder`` (hidden entries skipped), sorted, with its path
    relative to ``folder``; symbolic links are reported, never followed."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        problems.append(_unreadable(Location(display_path(folder)), exc))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            if entry.is_symlink():
                problems.append(_symlink(Location(display_path(path))))
            elif entry.is_dir(follow_symlinks=False):
                for inner, relative in _walk(path, problems):
                    yield inner, f"{entry.name}/{relative}"
            else:  # a file, or something else (a pipe, a socket): read_regular says which
                yield path, entry.name
        except OSError as exc:
            problems.append(_unreadable(Location(display_path(path)), exc))


def discover(source_dir: Path) -> Sources:
    """Read every note file and media file under ``source_dir``."""
    where = Location(display_path(source_dir))
    try:
        if source_dir.is_symlink():
            return Sources(source_dir, (), diagnostics=(_symlink(where),))
        root = source_dir.resolve(strict=True)
    except OSError as exc:
        code = "missing-source"
        reason = exc.strerror or type(exc).__name__
        return Sources(source_dir, (), diagnostics=(Diagnostic(where, code, reason),))
    if not root.is_dir():
        not_folder = Diagnostic(where, "missing-source", "not a folder")
        return Sources(root, (), diagnostics=(not_folder,))
    problems: list[Diagnostic] = []
    notes: list[NoteFile] = []
    media: dict[str, MediaFile] = {}
    base = source_dir
    for path, relative in _walk(root, problems):
        display = display_path(base / relative)
        problem: Diagnostic | None
        if relative.startswith(f"{MEDIA_DIR_NAME}/"):
            inner = relative.removeprefix(f"{MEDIA_DIR_NAME}/")
            media[inner] = MediaFile(inner, display, path)
            problem = None
        elif relative.endswith(".md") and path.name not in NON_NOTE_FILES:
            data, problem = read_regular(path, MAX_NOTE_BYTES, display)
            text = None
            if data is not None:
                text, problem = decode(data, display)
            if text is not None:
                notes.append(NoteFile(display, relative, text))
        else:
            continue
        if problem is not None:
            problems.append(problem)
    return Sources(root, tuple(notes), MappingProxyType(media), tuple(problems))
