"""Click commands: options -> build options, call the pipeline, print diagnostics, exit code.

Exit codes: 0 success, 1 content errors (or a deck that could not be written), 2 usage.
Diagnostics go to standard error, one per line, then a summary line; results go to
standard output.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import click

from ankigen import __version__
from ankigen.build import BuildOptions, BuildResult, build, check, deck_path, display_path
from ankigen.config import DEFAULT_BUILD_DIR, DEFAULT_SOURCE_DIR, EXAMS
from ankigen.diagnostics import summary, to_json
from ankigen.diff import DiffError, compare, format_report, load_side
from ankigen.lock import LockWriteError
from ankigen.preview import PreviewUnavailable, write_preview
from ankigen.stats import compute, format_stats

_SOURCE = click.option(
    "--src",
    "source_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_SOURCE_DIR,
    show_default=True,
    help="Folder of Markdown notes.",
)


class _ProgressBar:
    """A progress line on standard error for builds that take more than a couple of seconds.

    Silent when standard error is not a terminal, and erased before any diagnostic is
    printed, so located-error output stays clean.
    """

    DELAY = 2.0

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.started < self.DELAY or total <= 0:
            return
        width = 30
        filled = width * done // total
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {stage} {done}/{total}")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


_OUT = click.option(
    "--out",
    "build_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_BUILD_DIR,
    show_default=True,
    help="Output folder: decks go here, the preview to <out>/preview/index.html.",
)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _report(result: BuildResult, output_format: str = "text") -> None:
    diagnostics = result.corpus.diagnostics
    if output_format == "json":
        click.echo(to_json(diagnostics))
        return
    for diagnostic in diagnostics:
        click.echo(diagnostic.format(), err=True)
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    if diagnostics:
        click.echo(summary(diagnostics), err=True)


@click.group()
@click.version_option(__version__, prog_name="ankigen")
def main() -> None:
    """Compile Markdown study notes into Anki decks."""


@main.command("build")
@_SOURCE
@_OUT
@click.option(
    "--exam",
    "exams",
    type=click.Choice(list(EXAMS)),
    multiple=True,
    help="Write a deck of only this exam's notes (repeatable). Default: the full deck.",
)
def build_command(source_dir: Path, build_dir: Path, exams: tuple[str, ...]) -> None:
    """Check the notes and write the deck(s) into the build folder."""
    bar = _ProgressBar()
    try:
        result = build(
            BuildOptions(source_dir=source_dir, build_dir=build_dir, exams=exams, progress=bar)
        )
    except LockWriteError as exc:
        bar.clear()
        where = display_path(Path(exc.filename))
        click.echo(f"{where}: error: cannot write the lock: {exc.strerror}", err=True)
        click.echo("the deck was written; the lock is unchanged: build again", err=True)
        raise SystemExit(1) from None
    except OSError as exc:
        bar.clear()
        where = display_path(Path(exc.filename)) if exc.filename else str(build_dir)
        click.echo(f"{where}: error: cannot write the deck: {exc.strerror or exc}", err=True)
        click.echo("the previous deck, if any, is unchanged", err=True)
        raise SystemExit(1) from None
    bar.clear()
    _report(result)
    if not result.ok:
        click.echo("no deck written", err=True)
        raise SystemExit(1)
    for path, notes, cards in result.outputs:
        click.echo(f"wrote {display_path(path)}: {_count(notes, 'note')}, {_count(cards, 'card')}")


@main.command("check")
@_SOURCE
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Diagnostics as text lines or one JSON document on standard output.",
)
def check_command(source_dir: Path, output_format: str) -> None:
    """Validate the notes without writing anything."""
    bar = _ProgressBar()
    result = check(BuildOptions(source_dir=source_dir, progress=bar))
    bar.clear()
    _report(result, output_format)
    if not result.ok:
        raise SystemExit(1)
    if output_format == "text":
        corpus = result.corpus
        cards = sum(n.card_count() for n in corpus.notes)
        click.echo(
            f"ok: {_count(len(corpus.notes), 'note')}, {_count(cards, 'card')} "
            f"in {_count(len(corpus.files), 'file')}"
        )


@main.command("stats")
@_SOURCE
def stats_command(source_dir: Path) -> None:
    """Show notes and cards per kind and per exam domain, beside the domain weights."""
    result = check(BuildOptions(source_dir=source_dir))
    if not result.corpus.ok:
        _report(result)
        raise SystemExit(1)
    click.echo(format_stats(compute(result.corpus.notes)))


@main.command("diff")
@_SOURCE
@click.argument("old")
@click.argument("new")
def diff_command(source_dir: Path, old: str, new: str) -> None:
    """Show what changed between two builds.

    OLD and NEW are each an .apkg file or a git revision of the sources (for example
    `origin/main` and `HEAD`). Prints Markdown: notes added, changed (before and after),
    retired, renamed and removed.
    """
    with tempfile.TemporaryDirectory(prefix="ankigen-diff-") as scratch:
        try:
            before = load_side(old, source_dir, Path(scratch) / "old")
            after = load_side(new, source_dir, Path(scratch) / "new")
        except DiffError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
    click.echo(format_report(compare(before, after), old, new), nl=False)


@main.command("preview")
@_SOURCE
@_OUT
def preview_command(source_dir: Path, build_dir: Path) -> None:
    """Render every card as Anki does into one static page, light and night mode."""
    with tempfile.TemporaryDirectory(prefix="ankigen-preview-") as scratch:
        options = BuildOptions(source_dir=source_dir, build_dir=Path(scratch), update_lock=False)
        result = build(options)
        _report(result)
        if not result.ok:
            click.echo("no preview written", err=True)
            raise SystemExit(1)
        try:
            page = write_preview(deck_path(Path(scratch)), build_dir / "preview")
        except PreviewUnavailable as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
    click.echo(f"wrote {display_path(page)}: {sum(o[2] for o in result.outputs)} cards")
