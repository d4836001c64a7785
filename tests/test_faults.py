"""Faults: every failure is a located error with no traceback, nothing built is lost or
half-written, and no temporary file is left behind (or survives the next build)."""

from __future__ import annotations

import errno
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ankigen.build import BuildOptions, build, deck_path, load
from ankigen.cli import main
from ankigen.discover import MAX_MEDIA_BYTES, MAX_NOTE_BYTES

FRONT = "---\ntags: [exam::MLA-C01::D2-Model-Development::2.1]\n---\n\n"
NOTE = "## concept/n{n}\n\n- **Term:** Term {n}\n- **Explanation:** Explanation {n}.\n\n"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not (result.exception and not isinstance(result.exception, SystemExit))
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


@pytest.fixture
def built(valid_sources: Path, tmp_path: Path) -> tuple[Path, Path, bytes]:
    """(sources, build dir, bytes of the deck already built there)."""
    out = tmp_path / "build"
    assert _cli("build", "--src", str(valid_sources), "--out", str(out))[0] == 0
    return valid_sources, out, deck_path(out).read_bytes()


def _intact(out: Path, before: bytes) -> None:
    assert deck_path(out).read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [deck_path(out).name]  # no temporary file


def _change_a_note(src: Path) -> None:
    metrics = src / "metrics.md"
    metrics.write_text(metrics.read_text(encoding="utf-8").replace("F1 score", "F1"))


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EFBIG, "File too large"),
     sqlite3.OperationalError("database or disk is full"), PermissionError(13, "Denied")],
    ids=["disk-full", "file-too-large", "sqlite-full", "read-only"],
)  # fmt: skip
def test_a_failing_write_leaves_the_previous_deck(
    built: tuple[Path, Path, bytes], monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    src, out, before = built
    _change_a_note(src)

    def failing(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise failure

    monkeypatch.setattr("ankigen.package.sqlite3.connect", failing)
    code, err = _cli("build", "--src", str(src), "--out", str(out))
    assert code == 1
    assert "error: cannot write:" in err and "[write-failed]" in err
    assert _codes(err) == ["write-failed"]
    _intact(out, before)


def _run(args: list[str], limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "ankigen", *args],
        capture_output=True, text=True, preexec_fn=limit, check=False,
    )  # fmt: skip


def test_file_size_limit_of_the_process(built: tuple[Path, Path, bytes]) -> None:
    """``ulimit -f``: writes past the limit fail (Python ignores SIGXFSZ); located, no trace."""
    src, out, before = built
    _change_a_note(src)
    done = _run(["build", "--src", str(src), "--out", str(out)], limit_bytes=20_000)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "[write-failed]" in done.stderr
    _intact(out, before)


def test_a_killed_build_leaves_nothing_after_the_next_build(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for part in range(40):
        text = FRONT + "".join(NOTE.format(n=part * 100 + n) for n in range(100))
        (src / f"part{part}.md").write_text(text)
    out = tmp_path / "build"
    for delay in (0.5, 1.0, 1.5, 2.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "ankigen", "build", "--src", str(src), "--out", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert sorted(p.name for p in src.iterdir() if p.name.startswith(".")) == []
    done = _run(["build", "--src", str(src), "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [deck_path(out).name]


def test_leftovers_of_a_dead_build_are_removed(built: tuple[Path, Path, bytes]) -> None:
    src, out, before = built
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    leftover = out / f".ankigen-{dead.stdout.strip()}-0123abcd.tmp"
    leftover.write_bytes(b"half a deck")
    (out / f".ankigen-{dead.stdout.strip()}-4567cdef.tmp").mkdir()
    assert _cli("build", "--src", str(src), "--out", str(out))[0] == 0
    _intact(out, before)


def test_a_failing_record_write_keeps_the_old_record(
    valid_sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _change_a_note(valid_sources)
    record_before = (valid_sources / "ankigen.lock").read_bytes()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(valid_sources))

    monkeypatch.setattr("ankigen.fileio.os.fsync", full)
    code, err = _cli("record", "--src", str(valid_sources), "--out", str(tmp_path / "b"))
    assert code == 1 and "[write-failed]" in err
    assert (valid_sources / "ankigen.lock").read_bytes() == record_before
    assert [p.name for p in valid_sources.iterdir() if p.name.startswith(".")] == []
    assert [p.name for p in (tmp_path / "b").iterdir()] == []


def test_note_and_media_files_over_their_limits(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "media").mkdir(parents=True)
    big = FRONT + "".join(NOTE.format(n=n) for n in range(2000))
    assert len(big) > MAX_NOTE_BYTES
    (src / "big.md").write_text(big)
    (src / "media" / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(MAX_MEDIA_BYTES))
    (src / "media" / "unused.png").write_bytes(os.urandom(MAX_MEDIA_BYTES + 1))  # never read
    (src / "shows.md").write_text(
        FRONT + "## qa/p\n\n- **Question:** Q?\n- **Answer:** ![p](media/huge.png)\n"
    )
    corpus = load(src)
    assert sorted((Path(d.location.path).name, d.code) for d in corpus.diagnostics) == [
        ("big.md", "file-too-large"),
        ("huge.png", "file-too-large"),
    ]


def test_build_folder_that_is_a_file_is_a_usage_error(valid_sources: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the build folder should be")
    code, err = _cli("build", "--src", str(valid_sources), "--out", str(blocker))
    assert code == 2
    assert "is a file" in err
    assert blocker.read_text() == "a file where the build folder should be"


def test_missing_source_folder_is_exit_1(tmp_path: Path) -> None:
    code, err = _cli("build", "--src", str(tmp_path / "nope"), "--out", str(tmp_path))
    assert code == 1
    assert "nope:1:1: error:" in err and "[missing-source]" in err


def test_nothing_outside_the_build_folder_is_written(valid_sources: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in valid_sources.rglob("*")}
    result = build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path / "b"))
    assert result.ok
    assert {p: p.stat().st_mtime_ns for p in valid_sources.rglob("*")} == before


def _codes(err: str) -> list[str]:
    return [line.rsplit("[", 1)[1].rstrip("]") for line in err.splitlines() if ": error: " in line]
