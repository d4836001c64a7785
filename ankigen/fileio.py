"""Atomic file replacement: a file is either its old self or its complete new self.

A file is written to a temporary file in a staging folder (by default beside it), flushed
to disk and renamed over the old one. Temporary names carry the writing process's id, so
that a later run can tell the leftovers of a killed run (whose process is gone) from the
files of a run still going, and remove them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_TEMPORARY = re.compile(r"^\.ankigen-(\d+)-[0-9a-f]{8}\.tmp$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_temporaries(folder: Path) -> None:
    """Remove temporary files that a killed run left in ``folder``."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMPORARY.match(entry.name)
            if match and not _alive(int(match.group(1))):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        Path(entry.path).unlink()


def temporary_name(folder: Path) -> Path:
    """A fresh temporary path in ``folder``, named so that a later run can clean it up."""
    return folder / f".ankigen-{os.getpid()}-{os.urandom(4).hex()}.tmp"


@contextlib.contextmanager
def scratch_folder(folder: Path) -> Iterator[Path]:
    """An empty folder inside ``folder`` for work files, removed afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    path = temporary_name(folder)
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Staging:
    """Files written aside, then put in place together: all of them or none."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        """Where the new files are written until they are put in place."""
        self._staged: list[tuple[Path, Path]] = []

    @contextlib.contextmanager
    def open(self, target: Path) -> Iterator[BinaryIO]:
        """Write the new content of ``target`` (nothing is replaced yet)."""
        temporary = temporary_name(self.folder)
        self._staged.append((temporary, target))
        with temporary.open("xb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())

    def commit(self) -> None:
        """Put every staged file in place."""
        for temporary, target in self._staged:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                temporary.replace(target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                raise OSError(
                    errno.EXDEV, f"{self.folder} and {target.parent} are on different file "
                    "systems; the new file cannot be moved into place", str(target),
                ) from None  # fmt: skip
        self._staged = []

    def discard(self) -> None:
        """Remove every staged file; the targets stay as they were."""
        for temporary, _ in self._staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        self._staged = []


@contextlib.contextmanager
def staging(folder: Path) -> Iterator[Staging]:
    """A :class:`Staging` in ``folder``: committed if the block succeeds, else discarded."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    stage = Staging(folder)
    try:
        yield stage
        stage.commit()
    except BaseException:
        stage.discard()
        raise


@contextlib.contextmanager
def atomic_replace(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` anew: it is replaced only if the block succeeds."""
    with staging(path.parent) as stage, stage.open(path) as out:
        yield out
