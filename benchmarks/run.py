"""Benchmark: ankigen against plain genanki writing the same notes, in one run.

Usage: ``python benchmarks/run.py --notes 1000 10000 100000 [--repeat 3]``

For each size it generates a synthetic corpus in the real note format (see corpus.py),
then measures, taking the median of ``--repeat`` runs (the sizes take turns, run by
run): a cold build (no change record), a rebuild after changing one file (every build
does the whole work: there is no cache), ``check``, the per-file work alone (``load``:
discover, parse, validate, render), and plain genanki writing the same finished notes
(genanki.Note objects and Package.write_to_file), and markdown-it-py's own CommonMark
parse of the same files (the *parser floor*: the least time any build that parses every
note with markdown-it can take; ankigen's shortcut for plain text can go a little below
it). Peak memory is the maximum resident set
size of a cold build and of the genanki run, each in a fresh process. Growth from one
size to the next is the median of the runs' ratios. Figures are printed, never asserted:
the machine is noisy, so read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import write_corpus
from markdown_it import MarkdownIt

from ankigen.build import BuildOptions, BuildResult, build, check, load

REPO = Path(__file__).resolve().parents[1]

#: What the stage table shows: the per-file work, the whole check, the whole build.
STAGES = ("load", "check", "build")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


Row = tuple[str, str, list[str], str, list[str]]


def finished_notes(source: Path) -> list[Row]:
    """The corpus's notes as genanki needs them: (deck, kind, fields, key, tags)."""
    return [(n.deck, n.kind.name, list(n.html()), n.key, list(n.tags)) for n in load(source).notes]


def plain_genanki(rows: list[Row], out: Path) -> float:
    """Write finished notes with genanki alone; return the seconds it took."""
    import genanki

    from ankigen.package import _model, deck_id, guid_for_key
    from ankigen.render import render_note_types

    models = {name: _model(nt) for name, nt in render_note_types().items()}
    start = time.perf_counter()
    decks: dict[str, genanki.Deck] = {}
    for deck_name, kind, fields, key, tags in rows:
        deck = decks.get(deck_name)
        if deck is None:
            deck = decks[deck_name] = genanki.Deck(deck_id(deck_name), deck_name)
        deck.add_note(
            genanki.Note(model=models[kind], fields=fields, guid=guid_for_key(key), tags=tags)
        )
    genanki.Package(list(decks.values())).write_to_file(str(out))
    return time.perf_counter() - start


def _timed(action: Callable[[], BuildResult]) -> tuple[float, BuildResult]:
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    assert result.ok, [d.format() for d in result.diagnostics[:5]]
    return elapsed, result


def _peak_rss_mib(args: list[str]) -> float:
    """Run this script in a child process for one job; return its peak RSS in MiB.

    The child reports its own high-water mark (VmHWM), which starts at exec: the rusage of
    a forked child would also count the parent's pages from before the exec.
    """
    process = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    return float(process.stdout.strip().splitlines()[-1]) / 1024


def _vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Size:
    """One corpus size: its corpus, and the figures of each run so far."""

    def __init__(self, notes: int, work: Path) -> None:
        self.notes = notes
        self.work = work
        self.pristine = work / "pristine"
        self.files = write_corpus(self.pristine, notes)
        self.cold: list[float] = []
        self.warm: list[float] = []
        self.checks: list[float] = []
        self.plain: list[float] = []
        self.parser: list[float] = []
        self.stages: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}

    def run(self, run: int) -> None:
        """One run of every step, on a fresh copy of the corpus."""
        source = self.work / f"src-{run}"
        out = self.work / f"out-{run}"
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(self.pristine, source)
        options = BuildOptions(source_dir=source, build_dir=out, now=1_700_000_000 + run)
        start = time.perf_counter()
        load(source)
        self.stages["cold"].setdefault("load", []).append(time.perf_counter() - start)
        seconds, result = _timed(lambda: check(options))
        self.stages["cold"].setdefault("check", []).append(seconds)
        seconds, result = _timed(lambda: build(options))
        self.cold.append(seconds)
        self.stages["cold"].setdefault("build", []).append(seconds)

        changed = sorted(source.rglob("*.md"))[run % len(self.files)]
        text = changed.read_text(encoding="utf-8")
        changed.write_text(re.sub(r"(\n- \*\*[^*]+:\*\* )", r"\1Edited ", text, count=1))
        later = BuildOptions(source_dir=source, build_dir=out, now=1_700_100_000 + run)
        seconds, result = _timed(lambda: build(later))
        self.warm.append(seconds)
        self.stages["warm"].setdefault("build", []).append(seconds)

        seconds, result = _timed(lambda: check(later))
        self.checks.append(seconds)
        self.stages["warm"].setdefault("check", []).append(seconds)
        start = time.perf_counter()
        load(source)
        self.stages["warm"].setdefault("load", []).append(time.perf_counter() - start)
        # genanki starts from a clean heap: nothing of ankigen's runs is left for its
        # garbage collector to walk (which would slow genanki and flatter the ratios).
        del result
        rows = finished_notes(source)
        gc.collect()
        self.plain.append(plain_genanki(rows, out / "plain-genanki.apkg"))
        del rows
        self.parser.append(parser_floor(source))
        gc.collect()  # and the next build starts from a clean heap too
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)

    def report(self) -> dict[str, float]:
        """Print the table of medians (measuring peak memory first); return the figures."""
        rows_file = self.work / "rows.json"
        rows_file.write_text(json.dumps(finished_notes(self.pristine)))
        rss = _peak_rss_mib(["--child", "cold", str(self.pristine), str(self.work / "rss-out")])
        rss_genanki = _peak_rss_mib(
            ["--child", "genanki", str(rows_file), str(self.work / "rss-g")]
        )
        print(f"\n## {self.notes} notes in {len(self.files)} files")
        print(f"{'stage':<12}{'cold s':>10}{'edit s':>10}")
        for stage in STAGES:
            c = _median(self.stages["cold"].get(stage, []))
            w = _median(self.stages["warm"].get(stage, []))
            print(f"{stage:<12}{c:>10.3f}{w:>10.3f}")
        figures = {
            "cold": _median(self.cold),
            "warm": _median(self.warm),
            "check": _median(self.checks),
            "genanki": _median(self.plain),
            "parser": _median(self.parser),
            "peak_rss": rss,
            "peak_rss_genanki": rss_genanki,
        }
        print(
            f"{'total':<12}{figures['cold']:>10.3f}{figures['warm']:>10.3f}"
            f"   check {figures['check']:.3f}   genanki {figures['genanki']:.3f}"
            f"   peak RSS {rss:.0f} MiB (genanki {rss_genanki:.0f} MiB)"
        )
        return figures


def parser_floor(source: Path) -> float:
    """Seconds markdown-it-py takes to parse every note file in ``source``, CommonMark
    preset, nothing else: the floor under any build that parses every note with it."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(source.rglob("*.md"))]
    md = MarkdownIt("commonmark")
    gc.collect()
    start = time.perf_counter()
    for text in texts:
        md.parse(text)
    return time.perf_counter() - start


def _child(job: str, source: Path, out: Path) -> None:
    if job == "cold":
        work = Path(tempfile.mkdtemp(prefix="ankigen-rss-"))
        shutil.copytree(source, work / "src")
        result = build(BuildOptions(source_dir=work / "src", build_dir=out, now=1))
        assert result.ok
        shutil.rmtree(work)
    else:
        out.mkdir(parents=True, exist_ok=True)
        plain_genanki(json.loads(source.read_text()), out / "plain.apkg")


def _start_time() -> float:
    """Wall time of a fresh process that starts Python and imports the CLI (median of 3)."""
    command = [sys.executable, "-c", "import ankigen.cli"]
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return _median(times)


def _real_deck_wall_time() -> float | None:
    """Wall time of `ankigen build` on the real deck, as a user runs it (a fresh process)."""
    if not (REPO / "cards_src").is_dir():
        return None
    with tempfile.TemporaryDirectory(prefix="ankigen-real-") as scratch:
        shutil.copytree(REPO / "cards_src", Path(scratch) / "cards_src")
        command = [sys.executable, "-m", "ankigen", "build", "--src", "cards_src", "--out", "b"]
        times = []
        for _ in range(3):
            shutil.rmtree(Path(scratch) / "b", ignore_errors=True)
            start = time.perf_counter()
            subprocess.run(command, cwd=scratch, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return _median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("JOB", "SOURCE", "OUT"), help="internal")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        print(_vm_hwm_kib())
        return 0

    print(f"# ankigen benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    real = _real_deck_wall_time()
    if real is not None:
        print(f"real deck: `ankigen build` wall time {real:.3f} s (median of 3, new process)")
        print(
            f"real deck floor: start and imports {_start_time():.3f} s, markdown-it-py alone "
            f"{_median([parser_floor(REPO / 'cards_src') for _ in range(3)]):.3f} s"
        )
    summaries = []
    with contextlib.ExitStack() as stack:
        sizes = [
            Size(n, Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"ankigen-{n}-"))))
            for n in args.notes
        ]
        # Sizes take turns, run by run: a slow spell of this noisy machine then falls on
        # every size alike instead of on one, which would skew the growth figures.
        for run in range(args.repeat):
            for size in sizes:
                print(f"run {run + 1}/{args.repeat}: {size.notes} notes", flush=True)
                size.run(run)
        figures = [size.report() for size in sizes]
    for notes, f in zip(args.notes, figures, strict=True):
        summaries.append(
            f"N={notes} cold={f['cold']:.3f} warm={f['warm']:.3f} check={f['check']:.3f} "
            f"genanki={f['genanki']:.3f} ratio_cold={f['cold'] / f['genanki']:.2f} "
            f"ratio_warm={f['warm'] / f['genanki']:.2f} peak_rss={f['peak_rss']:.0f} "
            f"peak_rss_genanki={f['peak_rss_genanki']:.0f}"
        )
    for notes, f in zip(args.notes, figures, strict=True):
        summaries.append(
            f"parser floor N={notes}: markdown-it-py alone {f['parser']:.3f} s = "
            f"{f['parser'] / f['genanki']:.2f}x genanki"
        )
    for small, large in itertools.pairwise(sizes):
        growth = [b / a for a, b in zip(small.cold, large.cold, strict=True)]
        plain = [b / a for a, b in zip(small.plain, large.plain, strict=True)]
        summaries.append(
            f"growth {small.notes}->{large.notes} ({large.notes / small.notes:g}x the notes): "
            f"cold build {_median(growth):.2f}x, genanki {_median(plain):.2f}x "
            "(median of the runs' ratios)"
        )
    print()
    for line in summaries:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
