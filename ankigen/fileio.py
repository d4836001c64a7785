"""Atomic file replacement: a file is either its old self or its complete new self."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_replace(path: Path, durable: bool = True) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``; replace ``path`` only if all went well.

    On any failure (a full disk, an interrupt) the temporary file is removed and ``path``
    is left as it was. ``durable`` flushes the data to disk before the rename, so that a
    power cut cannot leave an empty file in its place; caches skip it (their entries are
    checksummed and rebuilt when damaged), because one sync per file is most of the cost of
    writing them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
