"""Click commands: options -> build options, call the pipeline, print diagnostics, exit code.

Exit codes: 0 success, 1 content errors (or a file that could not be written), 2 usage.
Diagnostics go to standard error, one per line, then a summary line; results go to
standard output.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ankigen import __version__
from ankigen.build import (
    BuildOptions,
    BuildResult,
    build,
    check,
    deck_path,
    display_path,
    load,
    record,
)
from ankigen.config import DEFAULT_BUILD_DIR, DEFAULT_SOURCE_DIR, EXAMS
from ankigen.diagnostics import has_errors, summary, to_json
from ankigen.diff import DiffError, compare, format_report, load_side, split_report
from ankigen.stats import compute, format_stats

_SOURCE = click.option(
    "--src",
    "source_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_SOURCE_DIR,
    show_default=True,
    help="Folder of Markdown notes.",
)
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
    diagnostics = result.diagnostics
    if output_format == "json":
        click.echo(to_json(diagnostics))
        return
    for diagnostic in diagnostics:
        click.echo(diagnostic.format(), err=True)
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
    result = build(BuildOptions(source_dir=source_dir, build_dir=build_dir, exams=exams))
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
    """Check the notes and the change record; write nothing."""
    result = check(BuildOptions(source_dir=source_dir))
    _report(result, output_format)
    if not result.ok:
        raise SystemExit(1)
    if output_format == "text":
        corpus = result.corpus
        cards = sum(n.card_count() for n in corpus.notes)
        pending = len(result.settlement.derived) if result.settlement else 0
        line = (
            f"ok: {_count(len(corpus.notes), 'note')}, {_count(cards, 'card')} "
            f"in {_count(len(corpus.files), 'file')}"
        )
        if pending:
            line += f"; {pending} new or changed since the change record"
        click.echo(line)


@main.command("record")
@_SOURCE
@_OUT
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Write nothing; exit 1 if the change record is not up to date.",
)
def record_command(source_dir: Path, build_dir: Path, check_only: bool) -> None:
    """Bring the change record (cards_src/ankigen.lock) up to date: run by CI on main."""
    options = BuildOptions(source_dir=source_dir, build_dir=build_dir)
    done = record(options, write=not check_only)
    _report(done.result)
    if not done.result.ok:
        raise SystemExit(1)
    where = display_path(options.lock_file())
    if check_only:
        if done.changed:
            click.echo(f"{where} is not up to date: run 'ankigen record' on main", err=True)
            raise SystemExit(1)
        click.echo(f"{where} is up to date")
    else:
        click.echo(f"wrote {where}" if done.written else f"{where} is up to date")


@main.command("stats")
@_SOURCE
def stats_command(source_dir: Path) -> None:
    """Show notes per kind and, per exam, per domain and task beside the exam's weights."""
    corpus = load(source_dir)
    if has_errors(corpus.diagnostics):
        _report(BuildResult(corpus))
        raise SystemExit(1)
    click.echo(format_stats(compute(corpus.notes)))


@main.command("diff")
@_SOURCE
@click.argument("old")
@click.argument("new")
@click.option(
    "--comment",
    "comment_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a report that fits a pull request comment (summarised when too long).",
)
@click.option(
    "--full-report",
    "full_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the full report to this file.",
)
def diff_command(
    source_dir: Path, old: str, new: str, comment_path: Path | None, full_path: Path | None
) -> None:
    """Show what changed between two builds.

    OLD and NEW are each an .apkg file or a git revision of the sources (for example
    `origin/main` and `HEAD`). Prints Markdown: notes added (every field as written),
    changed (before and after), retired, renamed and removed.
    """
    with tempfile.TemporaryDirectory(prefix="ankigen-diff-") as scratch:
        try:
            before = load_side(old, source_dir, Path(scratch) / "old")
            after = load_side(new, source_dir, Path(scratch) / "new")
        except DiffError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
    report = format_report(compare(before, after), old, new)
    try:
        if full_path is not None:
            full_path.write_text(report, encoding="utf-8")
        if comment_path is not None:
            comment_path.write_text(split_report(report, full_path), encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write the report: {exc.strerror or exc}", err=True)
        raise SystemExit(1) from None
    click.echo(report, nl=False)


@main.command("preview")
@_SOURCE
@_OUT
def preview_command(source_dir: Path, build_dir: Path) -> None:
    """Render every card as Anki does into one static page, light and night mode."""
    from ankigen.preview import PreviewUnavailable, write_preview

    with tempfile.TemporaryDirectory(prefix="ankigen-preview-") as scratch:
        result = build(BuildOptions(source_dir=source_dir, build_dir=Path(scratch)))
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
