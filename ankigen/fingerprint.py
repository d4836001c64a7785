"""The fingerprint of ankigen's own code, which every cache under ``build/.cache`` is keyed by.

A cache entry made by other code (an older parser, another row layout) must never be
reused, so each cache mixes this hash into its key or manifest.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path


@cache
def code_fingerprint() -> str:
    """A hash of every module of the ``ankigen`` package."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
