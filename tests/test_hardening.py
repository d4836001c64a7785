"""Hostile and broken input: refused with located errors, never a crash, never a lost deck."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ankigen.build import BuildOptions, build, deck_path, load
from ankigen.cli import main
from ankigen.media import MediaCollector
from ankigen.parse import MAX_FILE_BYTES, parse_text
from ankigen.ziparchive import Entry, ZipWriter

from .conftest import CASES

HOSTILE = sorted(p for p in (CASES / "hostile").iterdir() if p.is_dir())
FRONT = "---\ntags: [exam::MLS-C01::D3-Modeling::3.5]\n---\n\n"
NOTE = "## concept/{n}\n\n- **Term:** Term {n}\n- **Explanation:** Explanation {n}.\n\n"
_ACTIVE = re.compile(
    r"<(script|iframe|object|embed|form|style|svg|input|link|meta)\b"
    r"|<[a-z][^>]*\s(on[a-z]+|style)\s*="
    r"|(href|src)\s*=\s*\"\s*(javascript|vbscript|data):"
    r"|src\s*=\s*\"(https?:)?//",
    re.IGNORECASE,
)


@pytest.mark.parametrize("case", HOSTILE, ids=[p.name for p in HOSTILE])
def test_hostile_content_never_renders_active(case: Path) -> None:
    """Defence in depth: even the HTML of refused fields is inert."""
    corpus = load(case)
    assert corpus.diagnostics and not corpus.ok
    text = (case / "notes.md").read_text(encoding="utf-8")
    refused, _ = parse_text(text, "notes.md", MediaCollector(case).resolver(case / "notes.md"))
    assert all(not _ACTIVE.search(f.html) for n in refused.notes for f in n.fields)
    # The same text with every image resolvable still renders nothing active.
    parsed, _ = parse_text(text, "notes.md", lambda src: "x.svg")
    assert all(not _ACTIVE.search(f.html) for n in parsed.notes for f in n.fields)


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


def _assert_deck_intact(out: Path, before: bytes) -> None:
    assert deck_path(out).read_bytes() == before
    names = sorted(p.name for p in out.iterdir())
    assert names == [".cache", deck_path(out).name]  # no temporary files


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "no-notes"),
        (FRONT.encode(), "no-notes"),
        (b"# Only a title\n\nSome prose.\n", "no-notes"),
        (b"\xff\xfe## concept/x\n", "not-utf8"),
        ((FRONT + "## concept/x\n\n- **Term:** X\n" + "  " + "> " * 40 + "deep\n").encode(),
         "too-deep"),
        ((FRONT + "## concept/x\n\n- **Term:** X\n- **Explanation:**\n"
          + "".join("  " * (i + 1) + "- level\n" for i in range(30))).encode(), "too-deep"),
    ],
    ids=["empty", "front-matter-only", "title-only", "not-utf8", "deep-quotes", "deep-lists"],
)  # fmt: skip
def test_broken_file_is_refused_and_deck_kept(
    built: tuple[Path, Path, bytes], content: bytes, code: str
) -> None:
    src, out, before = built
    (src / "broken.md").write_bytes(content)
    exit_code, err = _cli("build", "--src", str(src), "--out", str(out))
    assert exit_code == 1
    assert re.search(rf"broken\.md:\d+:\d+: error: .+ \[{code}\]", err), err
    _assert_deck_intact(out, before)


def test_file_over_the_size_limit(built: tuple[Path, Path, bytes]) -> None:
    src, out, before = built
    body = (FRONT + "".join(NOTE.format(n=n) for n in range(60_000))).encode()
    assert len(body) > MAX_FILE_BYTES  # about 5 MB
    (src / "huge.md").write_bytes(body)
    exit_code, err = _cli("build", "--src", str(src), "--out", str(out))
    assert exit_code == 1
    assert "huge.md:1:1: error: file is " in err
    assert [d.code for d in load(src).diagnostics] == ["file-too-large"]
    _assert_deck_intact(out, before)


@pytest.mark.parametrize(
    "transform",
    [
        lambda t: "\ufeff" + t,
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.replace("- **Explanation:**", "-\t**Explanation:**"),
    ],
    ids=["byte-order-mark", "crlf", "tabs"],
)
def test_bom_crlf_and_tabs_are_read_like_plain_text(transform: object, tmp_path: Path) -> None:
    text = FRONT + NOTE.format(n=1) + "## metrik/x\n"
    assert callable(transform)
    (tmp_path / "a.md").write_bytes(transform(text).encode("utf-8"))
    corpus = load(tmp_path)
    assert [(d.location.line, d.location.column, d.code) for d in corpus.diagnostics] == [
        (10, 4, "unknown-kind")
    ]
    (tmp_path / "a.md").write_bytes(transform(FRONT + NOTE.format(n=1)).encode("utf-8"))
    corpus = load(tmp_path)
    assert corpus.ok and corpus.notes[0].card.explanation == "Explanation 1."  # type: ignore[union-attr]


def test_ten_thousand_notes_in_one_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "many.md").write_text(FRONT + "".join(NOTE.format(n=n) for n in range(10_000)))
    result = build(BuildOptions(source_dir=src, build_dir=tmp_path / "out", now=1_700_000_000))
    assert result.ok
    assert result.outputs[0][1:] == (10_000, 10_000)


def test_missing_source_folder_is_exit_1(tmp_path: Path) -> None:
    exit_code, err = _cli("build", "--src", str(tmp_path / "nope"), "--out", str(tmp_path))
    assert exit_code == 1
    assert "nope:1:1: error: source folder not found [missing-source]" in err


def _change_a_note(src: Path) -> None:
    metrics = src / "metrics.md"
    metrics.write_text(metrics.read_text(encoding="utf-8").replace("F1 score", "F1"))


def _change_a_note_keeping_lock(src: Path) -> bytes:
    """Change a note (so the lock would be rewritten); return the lock as it was."""
    _change_a_note(src)
    return (src / "ankigen.lock").read_bytes()


def test_read_only_build_folder(
    built: tuple[Path, Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, before = built
    _change_a_note(src)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(out))

    # Root ignores file modes, so the read-only folder is simulated where files are created.
    monkeypatch.setattr("ankigen.apkg.tempfile.mkstemp", refuse)
    exit_code, err = _cli("build", "--src", str(src), "--out", str(out))
    assert exit_code == 1
    assert "error: cannot write the deck: Permission denied" in err
    _assert_deck_intact(out, before)


def test_write_failing_halfway_leaves_previous_deck(
    built: tuple[Path, Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, before = built
    lock_before = _change_a_note_keeping_lock(src)
    real_add = ZipWriter.add_bytes
    calls = []

    def fail_on_second(self: ZipWriter, name: str, data: bytes) -> Entry:
        calls.append(name)
        if len(calls) == 2:  # the collection and the media index are written by now
            raise OSError(28, "No space left on device")
        return real_add(self, name, data)

    monkeypatch.setattr(ZipWriter, "add_bytes", fail_on_second)
    exit_code, err = _cli("build", "--src", str(src), "--out", str(out))
    assert exit_code == 1
    assert "No space left on device" in err
    _assert_deck_intact(out, before)
    assert (src / "ankigen.lock").read_bytes() == lock_before  # the lock is written last
    assert not [p.name for p in src.iterdir() if p.name.startswith(".")]  # no staged lock


def test_lock_write_failing_keeps_the_old_lock(
    built: tuple[Path, Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is serialised by a forked writer; its failure is reported like any other."""
    src, out, _ = built
    lock_before = _change_a_note_keeping_lock(src)

    def full_disk(*args: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ankigen.lock._note_line", full_disk)
    exit_code, err = _cli("build", "--src", str(src), "--out", str(out))
    assert exit_code == 1
    assert "ankigen.lock: error: cannot write the lock: No space left on device" in err
    assert (src / "ankigen.lock").read_bytes() == lock_before
    assert not [p.name for p in src.iterdir() if p.name.startswith(".")]


def test_json_diagnostics_match_text(tmp_path: Path) -> None:
    case = CASES / "hostile" / "javascript-links"
    text = CliRunner().invoke(main, ["check", "--src", str(case)])
    data = CliRunner().invoke(main, ["check", "--src", str(case), "--format", "json"])
    assert text.exit_code == data.exit_code == 1
    import json

    items = json.loads(data.stdout)["diagnostics"]
    lines = [line for line in text.stderr.splitlines() if "error:" in line]
    assert [f"{i['path']}:{i['line']}:{i['column']}: error: {i['message']} [{i['code']}]"
            for i in items] == lines  # fmt: skip


def test_build_folder_that_is_a_file_is_a_usage_error(valid_sources: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the build folder should be")
    exit_code, err = _cli("build", "--src", str(valid_sources), "--out", str(blocker))
    assert exit_code == 2
    assert "is a file" in err
    assert blocker.read_text() == "a file where the build folder should be"


def test_copying_hostile_media_is_refused(tmp_path: Path) -> None:
    shutil.copytree(CASES / "hostile" / "unsafe-svg", tmp_path / "src")
    corpus = load(tmp_path / "src")
    assert [d.code for d in corpus.diagnostics] == ["unsafe-media"]
    assert corpus.media == ()
