"""Images: resolving the paths notes write, refusing unsafe ones, content-hashed names."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from ankigen.apkg import MediaFile
from ankigen.parse import MediaProblem, MediaResolver

MEDIA_DIR_NAME = "media"
MEDIA_SUFFIXES = frozenset({".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"})
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_SVG_DANGER = re.compile(
    r"<script|<foreignObject|\bon[a-z]+\s*=|(?:href|src)\s*=\s*[\"']?\s*(?!#)[a-z]+:"
    r"|url\(\s*[\"']?\s*(?!#)|@import|<!ENTITY",
    re.IGNORECASE,
)


class MediaCollector:
    """Resolves image paths written in notes to content-hashed package files."""

    def __init__(self, source_dir: Path) -> None:
        self._folder = source_dir / MEDIA_DIR_NAME
        self.display_root = self._folder.as_posix()
        self.files: dict[str, MediaFile] = {}

    @functools.cached_property
    def root(self) -> Path:
        """The media folder, resolved (only once a note shows an image: it costs syscalls)."""
        return self._folder.resolve()

    def resolver(self, note_file: Path) -> MediaResolver:
        def resolve(src: str) -> str:
            if not src or _SCHEME.match(src) or src.startswith("//"):
                raise MediaProblem(
                    "remote-resource",
                    f"image {src[:60]!r} would load from outside the deck; put the file under "
                    "cards_src/media/ and refer to it by a relative path",
                )
            target = (note_file.parent / src).resolve()
            if not target.is_relative_to(self.root):
                raise MediaProblem(
                    "missing-media", f"image {src!r} is not under {self.display_root}/"
                )
            if target.suffix.lower() not in MEDIA_SUFFIXES:
                kinds = ", ".join(sorted(MEDIA_SUFFIXES))
                raise MediaProblem(
                    "missing-media", f"image {src!r} is not an image file; use one of: {kinds}"
                )
            try:
                data = target.read_bytes()
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise MediaProblem(
                    "missing-media", f"image {src!r} cannot be read: {reason}"
                ) from None
            if target.suffix.lower() == ".svg" and _SVG_DANGER.search(
                data.decode("utf-8", errors="replace")
            ):
                raise MediaProblem(
                    "unsafe-media",
                    f"SVG {src!r} contains a script, an event handler or an external reference",
                )
            name = packaged_name(target, data)
            self.files[name] = MediaFile(name, data)
            return name

        return resolve


def packaged_name(path: Path, data: bytes) -> str:
    """The file's name in the package: its stem, a content hash and its suffix."""
    return f"{path.stem}.{hashlib.sha256(data).hexdigest()[:12]}{path.suffix.lower()}"


def media_fingerprint(source_dir: Path) -> str:
    """A hash of every file in the media folder (names and contents)."""
    digest = hashlib.sha256()
    root = source_dir / MEDIA_DIR_NAME
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            try:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            except OSError:
                digest.update(b"unreadable")
    return digest.hexdigest()
