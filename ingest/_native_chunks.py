"""Whole-line chunks of an NDJSON file for the native path (ingest/_native.py).

The file is read (gzip decompressed here, with the stdlib as ingest/_readers.py
does) in large chunks cut after their last newline; each comes with the number of
lines before it, so a row's line number is that plus its row number in the chunk,
and with its own number of lines (counted once, here: a 48 MB chunk takes ~15-25 ms
a count, and the parse used to count again).
A gzip stream that breaks ends with an error at the line after the last whole
one, as on the Python path.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Final

from ingest._readers import GZIP_MAGIC, _lines, open_binary
from ingest._records import RowError

Chunk = bytes | memoryview
"""A chunk of whole lines: a plain file's chunks are views of one reused buffer,
valid until the next chunk is asked for."""


def read_chunks(path: Path, size: int) -> Generator[tuple[int, Chunk | RowError, int]]:
    """``(lines before the chunk, chunk of whole lines, its lines)``; a broken gzip
    stream ends with ``(line, RowError, 0)`` at the line after the last whole one (as
    _readers)."""
    with path.open("rb") as raw:
        gz = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not gz:
            yield from _plain_chunks(raw, size)
            return
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw  # type: ignore[assignment]
        base, parts, have = 0, [], 0
        error: RowError | None = None
        with stream:
            while True:
                try:
                    data = stream.read1(size) if gz else stream.read(size)  # type: ignore[attr-defined]
                except EOFError:
                    error = RowError("truncated_gzip", "gzip stream ends early (truncated file)")
                    data = b""
                except (gzip.BadGzipFile, zlib.error) as exc:
                    error = RowError("corrupt_gzip", f"gzip stream is corrupt: {exc}")
                    data = b""
                if not data:
                    break
                parts.append(data)  # gzip reads come ~1 MB at a time: joined once
                have += len(data)
                if have < size:
                    continue
                rest = b"".join(parts)
                del data, parts[:]
                cut = rest.rfind(b"\n") + 1
                if cut:
                    tail, chunk = rest[cut:], rest[:cut]
                    del rest
                    lines = chunk.count(b"\n")
                    yield base, chunk, lines
                    base += lines
                    del chunk
                    rest = tail
                parts, have = [rest], len(rest)
                del rest
        if error is not None:
            yield from _broken_tail(path, base)
            return
        rest = b"".join(parts)
        if rest:
            last = rest if rest.endswith(b"\n") else rest + b"\n"
            yield base, last, last.count(b"\n")


def _plain_chunks(raw: IO[bytes], size: int) -> Iterator[tuple[int, Chunk, int]]:
    """A plain file read into one buffer, reused: each chunk is a view of it (no copy
    of the chunk is made in Python), the partial last line moves to its front."""
    buf = bytearray(size)
    base, have = 0, 0  # lines before the chunk; bytes in buf
    while True:
        with memoryview(buf) as free:
            got = raw.readinto(free[have:])  # type: ignore[attr-defined]
        have += got
        if got and have < len(buf):
            continue
        cut = buf.rfind(b"\n", 0, have) + 1
        if not got:  # the end: what is left, with a last newline
            if not have:
                return
            if buf[have - 1] != 0x0A:
                if have == len(buf):
                    buf.append(0x0A)
                else:
                    buf[have] = 0x0A
                have += 1
            cut = have
        if not cut:  # a line longer than the buffer
            buf.extend(bytes(len(buf)))
            continue
        lines = buf.count(b"\n", 0, cut)
        with memoryview(buf) as view, view[:cut] as chunk:
            yield base, chunk, lines
        base += lines
        if not got:
            return
        buf[: have - cut] = buf[cut:have]
        have -= cut


def _broken_tail(path: Path, base: int) -> Iterator[tuple[int, bytes | RowError, int]]:
    """The lines after the first ``base`` of a broken gzip stream, and its error, read
    again as the Python path reads them (ingest/_readers.py): where a corrupt stream
    breaks depends on how much each read decompressed (zlib drops the output of the
    read that fails), so both paths must read it alike to stop at the same line."""
    stream, _ = open_binary(path)
    lines: list[bytes] = []
    with stream:
        for line_no, row in _lines(stream):
            if isinstance(row, RowError):
                if lines:
                    data = b"".join(lines)
                    data = data if data.endswith(b"\n") else data + b"\n"
                    yield base, data, data.count(b"\n")
                yield line_no, row, 0
                return
            if line_no > base:
                lines.append(row)


EVENT_OPENING: Final = b'{"event_id":'


def events_only(chunk: Chunk, lines: int) -> bool:
    """Whether every line of the chunk (``lines`` of them) opens with the event id key
    (a generated or exported file of events): then each is an event line (it names
    "event_id", as for ingest/_parallel.validate_line) and none is blank. Other chunks
    are sorted out by the parse itself (ingest/_native.py), not by a scan here (a
    search of a 48 MB chunk of invoices for "event_id" took ~22 ms)."""
    data = chunk.obj if isinstance(chunk, memoryview) else chunk
    # a view is of the start of _plain_chunks' bytearray: search the buffer, no copy
    assert isinstance(data, bytes | bytearray)
    end = len(chunk)
    if not data.startswith(EVENT_OPENING, 0, end):
        return False
    return data.count(b"\n" + EVENT_OPENING, 0, end) + 1 == lines
