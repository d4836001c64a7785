"""The build cache only saves time: results are identical with it, without it, or broken."""

from __future__ import annotations

import contextlib
import io
import pickle
import sqlite3
import zipfile
from pathlib import Path

import pytest

from ankigen.apkg import _checksum, read_manifest, write_manifest
from ankigen.build import BuildOptions, build, deck_path
from ankigen.fingerprint import code_fingerprint
from ankigen.incremental import PACK_NAME, PackWriter, read_pack
from ankigen.lock import Lock, LockCache, _note_line, format_lock, read_lock

NOW = 1_700_000_000


def _build(src: Path, out: Path, use_cache: bool = True, now: int = NOW) -> bytes:
    result = build(BuildOptions(source_dir=src, build_dir=out, now=now, use_cache=use_cache))
    assert result.ok, [d.format() for d in result.diagnostics]
    return deck_path(out).read_bytes()


def _pack(out: Path) -> Path:
    return out / ".cache" / "files" / PACK_NAME


def test_cache_is_filled_and_reused(valid_sources: Path, tmp_path: Path) -> None:
    first = _build(valid_sources, tmp_path)
    assert len(read_pack(_pack(tmp_path))) == 3  # one entry per note file
    before = _pack(tmp_path).stat().st_mtime_ns
    assert _build(valid_sources, tmp_path) == first
    assert _pack(tmp_path).stat().st_mtime_ns == before  # nothing new: not rewritten
    assert sorted(p.name for p in _pack(tmp_path).parent.iterdir()) == [PACK_NAME]


@pytest.mark.parametrize("damage", ["truncated", "flipped-byte", "garbage", "foreign-entries"])
def test_corrupt_cache_is_ignored(valid_sources: Path, tmp_path: Path, damage: str) -> None:
    reference = _build(valid_sources, tmp_path / "reference", use_cache=False)
    _build(valid_sources, tmp_path)
    pack = _pack(tmp_path)
    blob = pack.read_bytes()
    if damage == "truncated":
        pack.write_bytes(blob[:-10])
    elif damage == "flipped-byte":
        middle = len(blob) // 2
        pack.write_bytes(blob[:middle] + bytes([blob[middle] ^ 1]) + blob[middle + 1 :])
    elif damage == "garbage":
        pack.write_bytes(b"not a cache file")
    else:  # a well-formed pack whose entries are not results: valid checksum, wrong content
        keys = list(read_pack(pack))
        with pack.open("wb") as out:
            writer = PackWriter(out)
            for key in keys:
                writer.add(key, pickle.dumps({"not": "a result"}))
            writer.finish()
        assert len(read_pack(pack)) == 3
    assert _build(valid_sources, tmp_path) == reference
    assert len(read_pack(pack)) == 3  # rebuilt


def test_changed_file_is_reparsed_and_its_old_entry_dropped(
    valid_sources: Path, tmp_path: Path
) -> None:
    _build(valid_sources, tmp_path)
    old = set(read_pack(_pack(tmp_path)))
    metrics = valid_sources / "metrics.md"
    metrics.write_text(metrics.read_text(encoding="utf-8").replace("F1 score", "F-one"))
    with_cache = _build(valid_sources, tmp_path)
    new = set(read_pack(_pack(tmp_path)))
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


def test_damaged_package_manifest_is_ignored(valid_sources: Path, tmp_path: Path) -> None:
    """A manifest that fails its checksum is not read: the cached rows are not trusted."""
    _build(valid_sources, tmp_path)
    folder = tmp_path / ".cache" / "package" / "aws-machine-learning"
    connection = sqlite3.connect(folder / "collection.anki2")
    connection.execute("UPDATE notes SET flds = 'stale'")  # wrong rows, if reused
    connection.commit()
    connection.close()
    manifest = read_manifest(folder)
    assert manifest is not None
    manifest["checksum"] = _checksum(folder / "collection.anki2")
    write_manifest(folder, manifest)
    blob = (folder / "manifest").read_bytes()
    (folder / "manifest").write_bytes(blob[:-3] + bytes([blob[-3] ^ 1]) + blob[-2:])
    assert read_manifest(folder) is None
    _touch_one_note(valid_sources)
    fresh = _build(valid_sources, tmp_path / "fresh", use_cache=False)
    assert _build(valid_sources, tmp_path) == fresh


def _lock_cache(out: Path) -> LockCache:
    return LockCache(out / ".cache" / "lock.parsed", code_fingerprint())


def test_lock_parse_is_cached_exactly(valid_sources: Path, tmp_path: Path) -> None:
    _build(valid_sources, tmp_path)
    _touch_one_note(valid_sources)
    _build(valid_sources, tmp_path, now=NOW + 86_400)  # the lock is written by this code
    lock_file = valid_sources / "ankigen.lock"
    cache = _lock_cache(tmp_path)
    cached = cache.load(lock_file.read_bytes())
    parsed, problems = read_lock(lock_file, "lock")
    assert cached is not None and parsed is not None and not problems
    assert cached == parsed
    assert list(cached.notes) == list(parsed.notes)  # same order as the file
    assert list(cached.note_types) == list(parsed.note_types)
    # The cached parse knows each note's line in the file (the writer's own output), to
    # copy it back if the note is unchanged; a fresh parse trusts no line.
    assert parsed.source is None and cached.source is not None
    places, entries, lines = cached.source.lines()
    assert list(places) == list(cached.notes) and entries == list(cached.notes.values())
    assert lines == [f"{_note_line(k, e)},".encode() for k, e in cached.notes.items()]


def test_lock_edited_by_hand_is_parsed_again(valid_sources: Path, tmp_path: Path) -> None:
    _build(valid_sources, tmp_path)
    lock_file = valid_sources / "ankigen.lock"
    text = lock_file.read_text(encoding="utf-8")
    notes_start = text.index('"notes": {')  # edit the first note's time, not a note type's
    head, notes = text[:notes_start], text[notes_start:]
    assert notes.count('"changed": "2023-11-14T22:13:20Z"') > 1
    notes = notes.replace("2023-11-14T22:13:20Z", "2024-01-01T00:00:00Z", 1)
    lock_file.write_text(head + notes, encoding="utf-8")
    lock, _ = read_lock(lock_file, "lock", _lock_cache(tmp_path))
    assert lock is not None
    assert sorted({n.changed for n in lock.notes.values()}) == [1_700_000_000, 1_704_067_200]


@pytest.mark.parametrize("damage", ["flipped-byte", "truncated", "garbage"])
def test_damaged_lock_cache_is_ignored(valid_sources: Path, tmp_path: Path, damage: str) -> None:
    reference = _build(valid_sources, tmp_path / "reference", use_cache=False)
    assert _build(valid_sources, tmp_path) == reference
    cache = _lock_cache(tmp_path)
    blob = cache.path.read_bytes()
    lock_bytes = (valid_sources / "ankigen.lock").read_bytes()
    loaded = cache.load(lock_bytes)
    assert loaded is not None
    if damage == "flipped-byte":
        # A letter's case inside a note's key: still well-formed data, so only the
        # checksum can tell that it is not what was stored.
        at = blob.index(next(iter(loaded.notes)).encode()) + 1
        cache.path.write_bytes(blob[:at] + bytes([blob[at] ^ 0x20]) + blob[at + 1 :])
    elif damage == "truncated":
        cache.path.write_bytes(blob[: len(blob) // 2])
    else:
        cache.path.write_bytes(b"\0" * len(blob))
    assert cache.load(lock_bytes) is None
    assert _build(valid_sources, tmp_path) == reference


def test_package_cache_of_other_code_is_not_reused(valid_sources: Path, tmp_path: Path) -> None:
    """Rows written by another version of ankigen must not be patched into this one's."""
    reference = _build(valid_sources, tmp_path / "reference", use_cache=False)
    _build(valid_sources, tmp_path)
    folder = tmp_path / ".cache" / "package" / "aws-machine-learning"
    manifest = read_manifest(folder)
    assert manifest is not None and manifest["code"] == code_fingerprint()
    manifest["code"] = "0" * 64
    # Make the cached rows wrong too: if they were reused, the package would differ.
    connection = sqlite3.connect(folder / "collection.anki2")
    connection.execute("UPDATE notes SET flds = 'stale'")
    connection.commit()
    connection.close()
    manifest["checksum"] = _checksum(folder / "collection.anki2")  # the tampering is hidden
    write_manifest(folder, manifest)
    _touch_one_note(valid_sources)
    fresh = _build(valid_sources, tmp_path / "fresh-after-touch", use_cache=False)
    assert _build(valid_sources, tmp_path) == fresh
    assert reference != fresh


def _touch_one_note(src: Path) -> None:
    metrics = src / "metrics.md"
    metrics.write_text(metrics.read_text(encoding="utf-8").replace("F1 score", "F-one"))


def test_interrupted_patch_leaves_no_trusted_cache(
    valid_sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached collection is patched in place; a build that fails after patching it
    must not leave a cache that claims the old content."""
    first = _build(valid_sources, tmp_path)
    metrics = valid_sources / "metrics.md"
    original = metrics.read_text(encoding="utf-8")
    metrics.write_text(original.replace("F1 score", "F-one"), encoding="utf-8")

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("ankigen.apkg._write_zip", disk_full)
        with pytest.raises(OSError):
            build(BuildOptions(source_dir=valid_sources, build_dir=tmp_path, now=NOW + 1))
    metrics.write_text(original, encoding="utf-8")  # back to what the cache was made from
    assert _build(valid_sources, tmp_path) == first


@pytest.mark.parametrize("ids", ["colliding", "real"])
def test_new_note_in_another_deck_patches_like_fresh(
    valid_sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ids: str
) -> None:
    """A kind's first note in another deck changes the collection row (the note type
    remembers its last deck). And 40-bit ids collide now and then in a large deck: a
    collision never breaks a build, and a patch still equals a fresh build when a new note
    takes a taken id."""

    def tiny(guid: str) -> int:  # three ids for every note: collisions for sure
        return (1 << 50) | (int.from_bytes(guid.encode(), "big") % 3)

    if ids == "colliding":
        monkeypatch.setattr("ankigen.apkg._row_id", tiny)
    deck = _build(valid_sources, tmp_path)
    with zipfile.ZipFile(io.BytesIO(deck)) as package:
        database = tmp_path / "collection.anki2"
        database.write_bytes(package.read("collection.anki2"))
    with contextlib.closing(sqlite3.connect(database)) as connection:
        notes = connection.execute("SELECT id FROM notes").fetchall()
        cards = connection.execute("SELECT id, nid, ord FROM cards").fetchall()
    assert len(notes) > 3 and len({n for (n,) in notes}) == len(notes)
    assert all(card == nid << 4 | ord_ for card, nid, ord_ in cards)
    assert {nid for _, nid, _ in cards} <= {n for (n,) in notes}

    other = valid_sources / "topic" / "other.md"
    other.write_text(
        other.read_text(encoding="utf-8") + "\n## qa/new-one\n\n- **Question:** Q?\n"
        "- **Answer:** A.\n",
        encoding="utf-8",
    )
    patched = _build(valid_sources, tmp_path)
    assert patched == _build(valid_sources, tmp_path / "fresh", use_cache=False)


def _fresh_format(lock_file: Path) -> str:
    """The lock file's entries serialised from scratch, no line copied from any file."""
    lock, problems = read_lock(lock_file, "lock")
    assert lock is not None and not problems
    return format_lock(Lock(lock.notes, lock.note_types))


def test_unchanged_lines_are_copied_and_changed_ones_rewritten(
    valid_sources: Path, tmp_path: Path
) -> None:
    lock_file = valid_sources / "ankigen.lock"
    _build(valid_sources, tmp_path)
    first = lock_file.read_text(encoding="utf-8")
    assert first == _fresh_format(lock_file)
    _touch_one_note(valid_sources)
    _build(valid_sources, tmp_path, now=NOW + 86_400)
    second = lock_file.read_text(encoding="utf-8")
    assert second == _fresh_format(lock_file)  # as if written from scratch
    changed = [n for n, o in zip(second.splitlines(), first.splitlines(), strict=True) if n != o]
    assert len(changed) == 1 and "F-one" in changed[0]


def test_lock_reflowed_by_hand_is_not_copied_by_position(
    valid_sources: Path, tmp_path: Path
) -> None:
    """Lines are taken by position only from a file this code wrote; in a hand-edited lock
    (still valid, as many lines, but two entries on one line and one over two) each line
    is matched to its entry by its text."""
    lock_file = valid_sources / "ankigen.lock"
    _build(valid_sources, tmp_path)
    lines = lock_file.read_text(encoding="utf-8").split("\n")
    start = lines.index('"notes": {') + 1
    assert lines[start + 4] != "}"  # enough notes to reflow some in the middle
    split = lines[start + 3].index(', "guid"')
    lines[start + 1 : start + 4] = [
        lines[start + 1] + " " + lines[start + 2],
        lines[start + 3][: split + 1],
        lines[start + 3][split + 2 :],
    ]
    lock_file.write_text("\n".join(lines), encoding="utf-8")
    _build(valid_sources, tmp_path)  # parses the edited lock (and caches the parse)
    assert lock_file.read_text(encoding="utf-8").split("\n") == lines  # nothing to change
    _touch_one_note(valid_sources)
    _build(valid_sources, tmp_path, now=NOW + 86_400)  # the parse now comes from the cache
    assert lock_file.read_text(encoding="utf-8") == _fresh_format(lock_file)
