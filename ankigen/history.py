"""Git history, read: the versions of files, when each landed, and a revision's files.

Used to derive when a note last changed (``lock.py``) and to read a revision for
``ankigen diff``. History is read in a few git calls per build, however many files are
asked about: one log of the whole source folder, one status, and batched object reads.
Only plain files are ever read: a symbolic link, submodule or other odd entry is treated
as absent, never followed. Every git failure is a :class:`GitError` with git's own
message, never a traceback.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PLAIN = ("100644", "100755")
_ENV = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


class GitError(Exception):
    """Git could not do what was asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Version:
    """A file as one commit left it."""

    commit: str
    """The commit id."""
    time: int
    """When the commit was made (Unix seconds)."""
    blob: str | None
    """The file's object id, or None if the commit removed it or left no plain file."""


class Repository:
    """A git work tree, found from a folder inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        """The top of the work tree."""

    @classmethod
    def find(cls, folder: Path) -> Repository | None:
        """The repository holding ``folder``, or None (not a git checkout, or no git)."""
        try:
            top = _run(["git", "rev-parse", "--show-toplevel"], folder)
        except GitError:
            return None
        return cls(Path(top.decode().strip()))

    def git(self, *args: str, stdin: bytes | None = None) -> bytes:
        """Run git at the top of the work tree; its standard output."""
        return _run(["git", *args], self.root, stdin)

    def relative(self, path: Path) -> str:
        """``path`` relative to the top of the work tree, ``/``-separated."""
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    def shallow(self) -> bool:
        """True in a shallow clone, whose history is cut off."""
        return self.git("rev-parse", "--is-shallow-repository").strip() == b"true"

    def changed_in_work_tree(self, *relative: str) -> frozenset[str]:
        """The paths under these that differ from HEAD (edited, added or untracked)."""
        out = self.git("status", "--porcelain", "-z", "--untracked-files=all", "--", *relative)
        changed = set()
        entries = out.split(b"\0")
        for entry in entries:
            if len(entry) > 3:
                changed.add(entry[3:].decode("utf-8", "surrogateescape"))
        return frozenset(changed)

    def last_change(self, *relative: str) -> int | None:
        """When the last commit on this branch's first-parent line that changed any of these
        paths landed, or None if none did."""
        out = self.git("log", "-1", "--first-parent", "--format=%ct", "HEAD", "--", *relative)
        return int(out) if out.strip() else None

    def history(self, folder: str) -> dict[str, list[Version]]:
        """Every file ever under ``folder``, with its versions newest first, along this
        branch's first-parent line: on main, when each change landed there."""
        out = self.git(
            "log", "--first-parent", "--diff-merges=first-parent", "--raw", "-z",
            "--no-abbrev", "--no-renames", "--format=%x01%H %ct", "HEAD", "--", folder,
        )  # fmt: skip
        versions: dict[str, list[Version]] = {}
        for chunk in out.split(b"\x01")[1:]:
            header, _, raw = chunk.partition(b"\0")
            commit, time = header.decode().split()
            fields = raw.lstrip(b"\n").split(b"\0")
            for meta, path in zip(fields[0::2], fields[1::2], strict=False):
                parts = meta.decode().split()
                if len(parts) < 5:
                    continue
                mode, blob = parts[1], parts[3]
                name = path.decode("utf-8", "surrogateescape")
                plain = mode in _PLAIN and set(blob) != {"0"}
                versions.setdefault(name, []).append(
                    Version(commit, int(time), blob if plain else None)
                )
        return versions

    def read_blobs(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """The content of each object id (objects that are not blobs are left out)."""
        wanted = sorted(set(blobs))
        if not wanted:
            return {}
        out = self.git("cat-file", "--batch", stdin="".join(f"{b}\n" for b in wanted).encode())
        found: dict[str, bytes] = {}
        at = 0
        for blob in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            if len(header) < 3 or header[1] != b"blob":
                continue
            size = int(header[2])
            found[blob] = out[at : at + size]
            at += size + 1
        return found

    def tree(self, revision: str, *relative: str) -> list[tuple[str, str, str]]:
        """(mode, object id, path) of every entry under these paths at a revision."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", revision, "--", *relative)
        entries = []
        for item in out.split(b"\0"):
            if not item:
                continue
            meta, _, path = item.partition(b"\t")
            mode, _, blob = meta.decode().split()
            entries.append((mode, blob, path.decode("utf-8", "surrogateescape")))
        return entries

    def revision_files(self, revision: str, folder: str) -> dict[str, bytes | None]:
        """The files under ``folder`` at a revision by path; None for any entry that is not
        a plain file (a symbolic link, a submodule)."""
        entries = self.tree(revision, folder)
        blobs = self.read_blobs(blob for mode, blob, _ in entries if mode in _PLAIN)
        return {path: blobs.get(blob) if mode in _PLAIN else None for mode, blob, path in entries}


@functools.cache
def _git_available() -> bool:
    try:
        subprocess.run(["git", "--version"], capture_output=True, check=True, env=_ENV)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def _run(command: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    if not _git_available():
        raise GitError("git is not installed")
    try:
        done = subprocess.run(
            command, cwd=cwd, input=stdin, capture_output=True, check=False, env=_ENV
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git exited with {done.returncode}")
    return done.stdout
