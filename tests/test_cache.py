"""The build cache only saves time: results are identical with it, without it, or broken."""

from __future__ import annotations

from pathlib import Path

from ankigen.build import BuildOptions, build, deck_path

NOW = 1_700_000_000


def _build(src: Path, out: Path, use_cache: bool = True) -> bytes:
    result = build(BuildOptions(source_dir=src, build_dir=out, now=NOW, use_cache=use_cache))
    assert result.ok, [d.format() for d in result.diagnostics]
    return deck_path(out).read_bytes()


def _entries(out: Path) -> list[Path]:
    return sorted((out / ".cache" / "files").iterdir())


def test_cache_is_filled_and_reused(valid_sources: Path, tmp_path: Path) -> None:
    first = _build(valid_sources, tmp_path)
    assert len(_entries(tmp_path)) == 3  # one per note file
    before = {p.name: p.stat().st_mtime_ns for p in _entries(tmp_path)}
    assert _build(valid_sources, tmp_path) == first
    assert {p.name: p.stat().st_mtime_ns for p in _entries(tmp_path)} == before


def test_corrupt_cache_is_ignored(valid_sources: Path, tmp_path: Path) -> None:
    reference = _build(valid_sources, tmp_path / "reference", use_cache=False)
    _build(valid_sources, tmp_path)
    entries = _entries(tmp_path)
    entries[0].write_bytes(entries[0].read_bytes()[:-10])  # truncated
    entries[1].write_bytes(b"ankigen-cache-1\n" + b"\0" * 40)  # garbage with the right header
    entries[2].write_bytes(b"not a cache file")
    assert _build(valid_sources, tmp_path) == reference


def test_changed_file_is_reparsed_and_its_old_entry_dropped(
    valid_sources: Path, tmp_path: Path
) -> None:
    _build(valid_sources, tmp_path)
    old = {p.name for p in _entries(tmp_path)}
    metrics = valid_sources / "metrics.md"
    metrics.write_text(metrics.read_text(encoding="utf-8").replace("F1 score", "F-one"))
    with_cache = _build(valid_sources, tmp_path)
    new = {p.name for p in _entries(tmp_path)}
    assert len(new) == 3 and len(new - old) == 1
    assert with_cache == _build(valid_sources, tmp_path / "fresh", use_cache=False)


def test_patched_package_equals_fresh_package(valid_sources: Path, tmp_path: Path) -> None:
    """A warm build patches the cached collection; it must equal a build from scratch."""
    import shutil

    out = tmp_path / "out"
    _build(valid_sources, out)
    other = valid_sources / "topic" / "other.md"
    text = other.read_text(encoding="utf-8").replace("Turns text into speech.", "Speaks.")
    text = text.replace("deck: Other", "deck: Other::Moved")  # every note of the file moves
    start, end = text.index("## concept/overfitting"), text.index("## qa/retired-exam")
    other.write_text(text[:start] + text[end:] + "\n## qa/new\n\n- **Question:** Q?\n"
                     "- **Answer:** A.\n", encoding="utf-8")  # fmt: skip
    result = build(BuildOptions(source_dir=valid_sources, build_dir=out, now=NOW + 5))
    assert result.ok
    patched = deck_path(out).read_bytes()
    fresh_sources = tmp_path / "fresh-src"
    shutil.copytree(valid_sources, fresh_sources)  # with the lock the warm build wrote
    fresh = build(
        BuildOptions(source_dir=fresh_sources, build_dir=tmp_path / "fresh", now=NOW + 5,
                     use_cache=False)
    )  # fmt: skip
    assert fresh.ok
    assert patched == deck_path(tmp_path / "fresh").read_bytes()


def test_corrupt_package_cache_is_ignored(valid_sources: Path, tmp_path: Path) -> None:
    reference = _build(valid_sources, tmp_path / "reference", use_cache=False)
    _build(valid_sources, tmp_path)
    cached = tmp_path / ".cache" / "package" / "aws-machine-learning" / "collection.anki2"
    cached.write_bytes(cached.read_bytes()[:4096])
    assert _build(valid_sources, tmp_path) == reference
