"""Atomic file replacement (a file is either its old self or its complete new self), and
the CRC-32 seal that cache files carry so that a damaged one is ignored."""

from __future__ import annotations

import contextlib
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class StagedFile:
    """A temporary file beside ``path`` that takes its place only on :meth:`commit`.

    Until then ``path`` is untouched; :meth:`discard` removes the temporary file. The two
    steps are separate so that a file can be written early (say, in a background thread)
    and put in place only once everything it must follow has succeeded.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.path = path
        """The file to replace."""
        self.temporary = Path(name)
        """Where the content is written meanwhile."""
        self.out: BinaryIO = os.fdopen(handle, "wb")
        """Write the new content here."""

    def finish(self, durable: bool = True) -> None:
        """Close the temporary file; ``durable`` flushes it to disk first (see below)."""
        if self.out.closed:
            return
        try:
            self.out.flush()
            if durable:
                os.fsync(self.out.fileno())
        finally:
            self.out.close()

    def commit(self, durable: bool = True) -> None:
        """Replace ``path`` with the temporary file (finishing it if needed)."""
        try:
            self.finish(durable)
            self.temporary.chmod(0o644)
            self.temporary.replace(self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Drop the temporary file; ``path`` stays as it was."""
        with contextlib.suppress(OSError):
            self.out.close()
        self.temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_replace(path: Path, durable: bool = True) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``; replace ``path`` only if all went well.

    On any failure (a full disk, an interrupt) the temporary file is removed and ``path``
    is left as it was. ``durable`` flushes the data to disk before the rename, so that a
    power cut cannot leave an empty file in its place; caches skip it (their entries are
    checksummed and rebuilt when damaged), because one sync per file is most of the cost of
    writing them.
    """
    staged = StagedFile(path)
    try:
        yield staged.out
    except BaseException:
        staged.discard()
        raise
    staged.commit(durable)


def sealed(payload: bytes) -> bytes:
    """``payload`` preceded by its CRC-32 (4 bytes, little-endian)."""
    return zlib.crc32(payload).to_bytes(4, "little") + payload


def unsealed(blob: bytes | memoryview) -> memoryview | None:
    """The payload of :func:`sealed` bytes, or None if it does not match its CRC-32."""
    view = memoryview(blob)
    if len(view) < 4 or zlib.crc32(view[4:]).to_bytes(4, "little") != view[:4]:
        return None
    return view[4:]
