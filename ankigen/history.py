"""Git history, read: the versions of a file, when each landed, and a revision's files.

Used to derive when a note last changed (``lock.py``) and to build a revision for
``ankigen diff``. Only plain files are ever read from git: a symbolic link, submodule or
other odd entry is reported, never followed. Every git failure is a :class:`GitError`
with git's own message, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class GitError(Exception):
    """Git could not do what was asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Version:
    """A file as one commit left it."""

    commit: str
    """The commit id."""
    time: int
    """The commit time (Unix seconds)."""
    data: bytes | None
    """The file's bytes, or None if the commit has no such plain file."""


_ENV = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


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

    def changed_in_work_tree(self, relative: str) -> bool:
        """True if the file differs from HEAD (edited, added or untracked)."""
        status = self.git("status", "--porcelain", "--untracked-files=all", "--", relative)
        return bool(status.strip())

    def last_change(self, *relative: str) -> int | None:
        """When the last commit on this branch's first-parent line that changed any of these
        paths landed, or None if none did."""
        out = self.git("log", "-1", "--first-parent", "--format=%ct", "HEAD", "--", *relative)
        return int(out) if out.strip() else None

    def versions(self, relative: str) -> Iterator[Version]:
        """The file as each commit that changed it left it, newest first, following the
        first parent: on a main branch, when each change landed there."""
        out = self.git("log", "--first-parent", "--format=%H %ct", "HEAD", "--", relative)
        commits = [line.split() for line in out.decode().splitlines() if line.strip()]
        for start in range(0, len(commits), 50):
            batch = commits[start : start + 50]
            blobs = self.read_files([(commit, relative) for commit, _ in batch])
            for (commit, time), data in zip(batch, blobs, strict=True):
                yield Version(commit, int(time), data)

    def read_files(self, wanted: list[tuple[str, str]]) -> list[bytes | None]:
        """The bytes of each ``(revision, path)``, None where it is no plain file."""
        if not wanted:
            return []
        query = "".join(f"{rev}:{path}\n" for rev, path in wanted).encode()
        modes = self._modes(wanted)
        out = self.git("cat-file", "--batch", stdin=query)
        found: list[bytes | None] = []
        at = 0
        for rev, path in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            if len(header) < 3 or header[1] != b"blob":
                found.append(None)
                continue
            size = int(header[2])
            data = out[at : at + size]
            at += size + 1
            found.append(data if modes.get((rev, path)) in ("100644", "100755") else None)
        return found

    def _modes(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        modes: dict[tuple[str, str], str] = {}
        for rev in {rev for rev, _ in wanted}:
            paths = [path for r, path in wanted if r == rev]
            for mode, path in self.tree(rev, *paths):
                modes[(rev, path)] = mode
        return modes

    def tree(self, revision: str, *relative: str) -> list[tuple[str, str]]:
        """(mode, path) of every entry under these paths at a revision."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", revision, "--", *relative)
        entries = []
        for item in out.split(b"\0"):
            if not item:
                continue
            meta, _, path = item.partition(b"\t")
            entries.append((meta.split()[0].decode(), path.decode("utf-8", "surrogateescape")))
        return entries


def _run(command: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
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
