"""Bounded work: time and peak memory of checking the worst note files known, each alone.

Usage: ``python benchmarks/limits.py [--bytes N]``

Each input is a note file of the largest size a note file may have (``MAX_NOTE_BYTES``),
made of one shape that makes markdown-it's rules rescan (runs of unclosed brackets,
emphasis delimiters, wide tables, deep nesting). Each is checked by ``ankigen check`` in a
fresh process; the line gives its wall time and peak resident memory. Figures are printed,
never asserted (issue 16 asks for at most 5 s and 500 MiB on this project's machine).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ankigen.discover import MAX_NOTE_BYTES

HEAD = (
    "---\ntags: [exam::MLA-C01::D1-Data-Preparation::1.1]\n---\n\n## qa/x\n\n- **Question:** Q?\n"
)


def _paragraphs(unit: str, size: int) -> str:
    """``unit`` repeated into paragraphs just under the paragraph limit, up to ``size``."""
    paragraph = (unit * (4900 // len(unit)))[:4900]
    body = "- **Answer:** " + "\n\n  ".join([paragraph] * (size // 4910))
    return HEAD + body


def inputs(size: int) -> dict[str, str]:
    """The worst shapes, each filling a note file of ``size`` bytes."""
    shapes = {f"runs of {unit!r}": _paragraphs(unit, size) for unit in
              ("![", "[", "*a**", "_a__", "~~a", "[a](", "<a", "`a", "\\\\(", "&#")}  # fmt: skip
    columns = "|" + "a|" * 2000 + "\n|" + "-|" * 2000 + "\n"
    shapes["wide table"] = (
        HEAD
        + "- **Answer:**\n\n"
        + "".join("  " + columns.replace("\n|", "\n  |") for _ in range(size // (len(columns) + 4)))
    )
    shapes["deep lists"] = (
        HEAD + "- **Answer:**\n" + "".join("  " * (i % 40 + 1) + "- x\n" for i in range(size // 60))
    )
    shapes["one long line"] = HEAD + "- **Answer:** " + "x " * (size // 2)
    shapes["lists side by side"] = (
        HEAD
        + "- **Answer:** x\n\n"
        + "".join(("  - a\n", "  * a\n", "  + a\n")[i % 3] for i in range(size // 6))
    )
    shapes["many unsafe links"] = HEAD + "- **Answer:** x\n\n" + "  [a](b)\n\n" * (size // 10)
    shapes["code for slow lexers"] = (
        HEAD + "- **Answer:** x\n\n  ```c\n  a" + " " * size + "!\n  ```\n"
    )
    return {name: text[:size] for name, text in shapes.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=MAX_NOTE_BYTES - 16)
    args = parser.parse_args(argv)
    print(f"# each input {args.bytes:,} bytes, checked in a fresh process")
    for name, text in inputs(args.bytes).items():
        with tempfile.TemporaryDirectory(prefix="ankigen-limits-") as scratch:
            (Path(scratch) / "input.md").write_text(text, encoding="utf-8")
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "ankigen", "check", "--src", scratch],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        outcome = done.stderr.strip().splitlines()[-1] if done.returncode else "ok"
        peak = usage.ru_maxrss / 1024  # the largest of the children so far: an upper bound
        print(f"{name:<18} {seconds:6.2f} s  peak {peak:6.0f} MiB  {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
