"""The hand-written zip writer: archives that standard readers accept, deflated in parallel."""

from __future__ import annotations

import io
import random
import zipfile
import zlib

import pytest

from ankigen import ziparchive
from ankigen.ziparchive import CHUNK, ZipWriter


def _members(sizes: dict[str, int], seed: int = 7) -> dict[str, bytes]:
    """Compressible but varied content (repetitive HTML-like text with random runs)."""
    rng = random.Random(seed)
    words = [b"<b>", b"</b>", b"SageMaker ", b"recall ", b"\xc3\xa9t\xc3\xa9 ", b"\n", b"$$x$$"]
    members = {}
    for name, size in sizes.items():
        parts: list[bytes] = []
        total = 0
        while total < size:
            part = rng.choice(words) if rng.random() < 0.9 else rng.randbytes(rng.randint(1, 200))
            parts.append(part)
            total += len(part)
        members[name] = b"".join(parts)[:size]
    return members


def _archive(members: dict[str, bytes], threads: int = 2) -> bytes:
    out = io.BytesIO()
    writer = ZipWriter(out, 1, threads)
    for name, data in members.items():
        writer.add_bytes(name, data)
    writer.finish()
    return out.getvalue()


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345],
    ids=["empty", "one-byte", "under-chunk", "one-chunk", "over-chunk", "many-chunks"],
)
def test_members_read_back_exactly(size: int) -> None:
    members = _members({"collection.anki2": size, "media": 30, "0": 5000})
    with zipfile.ZipFile(io.BytesIO(_archive(members))) as archive:
        assert archive.testzip() is None  # every CRC checks out
        assert archive.namelist() == list(members)
        for info in archive.infolist():
            assert archive.read(info) == members[info.filename]
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644


def test_parallel_stream_is_one_valid_deflate_stream_and_compresses_well() -> None:
    data = _members({"x": 5 * CHUNK})["x"]
    stream = _archive({"x": data})
    with zipfile.ZipFile(io.BytesIO(stream)) as archive:
        info = archive.getinfo("x")
        raw = stream[info.header_offset + 30 + 1 : info.header_offset + 31 + info.compress_size]
    decompressor = zlib.decompressobj(-15)
    assert decompressor.decompress(raw) == data
    assert decompressor.eof and not decompressor.unused_data  # ends with a final block
    whole = len(zlib.compress(data, 1))
    assert info.compress_size < whole * 1.02  # chunking costs under 2% of the size


def test_same_input_same_bytes_whatever_the_threads() -> None:
    members = _members({"collection.anki2": 2 * CHUNK + 99, "media": 2})
    assert _archive(members, threads=1) == _archive(members, threads=2) == _archive(members)


def test_file_and_bytes_give_the_same_archive() -> None:
    data = _members({"c": 2 * CHUNK + 5})["c"]
    from_file = io.BytesIO()
    writer = ZipWriter(from_file, 1)
    writer.add_file("c", io.BytesIO(data))
    writer.finish()
    assert from_file.getvalue() == _archive({"c": data})


def test_oversized_archive_is_refused_with_an_os_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ziparchive, "_LIMIT", 1000)
    with pytest.raises(OSError, match="too large for a zip archive"):
        _archive({"big": bytes(2000)})
