"""Reproducible zip archives, written by hand so that a large entry deflates on two cores.

A package is a zip of the collection database and the media. The database is most of the
work (at 10,000 notes, 8 MB to deflate), and ``zipfile`` deflates an entry as one stream
on one core. Here it is cut into 1 MiB chunks deflated on worker threads (zlib releases
the GIL), each primed with the last 32 KiB of the chunk before it and ended with a sync
flush, so that the concatenation is one valid deflate stream that compresses almost as
well as a single one (the technique of pigz). Every entry carries a fixed date and mode,
so equal inputs give equal bytes. No zip64: an archive or entry past 4 GiB is refused.
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

#: Input cut into pieces of this size for deflating in parallel.
CHUNK = 1 << 20
_WINDOW = 1 << 15  # deflate's history: each chunk is primed with this much of the last one
_DEFLATED = 8
_VERSION = 20  # 2.0: deflate
_MADE_BY = 3 << 8 | _VERSION  # Unix, so that the file mode below is read
_MODE = 0o100644 << 16  # a regular file, rw-r--r--
_DATE = 1 << 5 | 1  # 1980-01-01 in MS-DOS format (time 00:00:00 is 0)
_LIMIT = 0xFFFFFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")


@dataclass(frozen=True, slots=True)
class Entry:
    """One member as recorded in the central directory."""

    name: str
    """Member name (ASCII)."""
    crc: int
    """CRC-32 of the uncompressed content."""
    compressed: int
    """Size in the archive."""
    size: int
    """Uncompressed size."""
    offset: int
    """Where its local header starts."""


def _too_large(what: str) -> OSError:
    return OSError(errno.EFBIG, f"{what} is too large for a zip archive without zip64")


class ZipWriter:
    """Writes members one after another to a seekable binary file, then the directory.

    Call :meth:`finish` once all members are written; without it the file is not a zip.
    """

    def __init__(self, out: BinaryIO, level: int, threads: int = 2) -> None:
        self._out = out
        self._level = level
        self._threads = max(1, threads)
        self._entries: list[Entry] = []

    def add_bytes(self, name: str, data: bytes) -> Entry:
        """Add a member held in memory."""
        return self.add_chunks(name, [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)])

    def add_file(self, name: str, source: BinaryIO) -> Entry:
        """Add a member read from ``source`` chunk by chunk (never held whole in memory)."""
        return self.add_chunks(name, iter(lambda: source.read(CHUNK), b""))

    def add_chunks(self, name: str, chunks: Iterable[bytes]) -> Entry:
        """Add a member given as consecutive pieces of its content."""
        encoded = name.encode("ascii")
        offset = self._out.tell()
        self._out.write(bytes(_LOCAL.size + len(encoded)))  # the header, once sizes are known
        crc = size = compressed = 0
        for plain, packed in _deflate(chunks, self._level, self._threads):
            crc = zlib.crc32(plain, crc)
            size += len(plain)
            compressed += len(packed)
            self._out.write(packed)
        if max(size, compressed, offset) > _LIMIT:
            raise _too_large(name)
        end = self._out.tell()
        entry = Entry(name, crc, compressed, size, offset)
        self._out.seek(offset)
        self._out.write(
            _LOCAL.pack(
                0x04034B50, _VERSION, 0, _DEFLATED, 0, _DATE, crc, compressed, size, len(encoded), 0
            )
            + encoded
        )
        self._out.seek(end)
        self._entries.append(entry)
        return entry

    def finish(self) -> None:
        """Write the central directory and its end record."""
        start = self._out.tell()
        directory = bytearray()
        for e in self._entries:
            name = e.name.encode("ascii")
            directory += _CENTRAL.pack(
                0x02014B50,
                _MADE_BY,
                _VERSION,
                0,
                _DEFLATED,
                0,
                _DATE,
                e.crc,
                e.compressed,
                e.size,
                len(name),
                0,
                0,
                0,
                0,
                _MODE,
                e.offset,
            )
            directory += name
        if len(self._entries) > 0xFFFF or start + len(directory) > _LIMIT:
            raise _too_large("the archive")
        count = len(self._entries)
        self._out.write(bytes(directory))
        self._out.write(_END.pack(0x06054B50, 0, 0, count, count, len(directory), start, 0))


def _deflate(chunks: Iterable[bytes], level: int, threads: int) -> Iterator[tuple[bytes, bytes]]:
    """Each chunk with its deflated form; together the forms make one raw deflate stream."""
    source = iter(chunks)
    first = next(source, b"")
    second = next(source, None)
    if second is None:  # one piece: no threads
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        yield first, compressor.compress(first) + compressor.flush(zlib.Z_FINISH)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ankigen-deflate") as pool:
        pending: deque[tuple[bytes, Future[bytes]]] = deque()
        previous = b""
        for chunk in _chained(first, second, source):
            pending.append((chunk, pool.submit(_deflate_chunk, chunk, previous, level)))
            previous = chunk
            if len(pending) > 2 * threads:  # bounded memory: a few chunks in flight
                plain, future = pending.popleft()
                yield plain, future.result()
        while pending:
            plain, future = pending.popleft()
            yield plain, future.result()
    yield b"", zlib.compressobj(level, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # last block


def _chained(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest


def _deflate_chunk(chunk: bytes, previous: bytes, level: int) -> bytes:
    """``chunk`` as deflate blocks that may refer back into ``previous``, ending on a byte
    boundary without a final block (a sync flush), so that more blocks can follow."""
    if previous:
        window = previous[-_WINDOW:]
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=window)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)


def default_threads() -> int:
    """Threads for deflating: one per core, at most two (the collection is only so big)."""
    return min(2, os.cpu_count() or 1)
