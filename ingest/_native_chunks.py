"""Whole-line chunks of an NDJSON file for the native path (ingest/_native.py).

The file is read (gzip decompressed here, with the stdlib as ingest/_readers.py
does) in large chunks cut after their last newline; each comes with the number of
lines before it, so a row's line number is that plus its row number in the chunk.
A gzip stream that breaks ends with an error at the line after the last whole
one, as on the Python path.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ingest._readers import GZIP_MAGIC, _lines, open_binary
from ingest._records import RowError


def read_chunks(path: Path, size: int) -> Iterator[tuple[int, bytes | RowError]]:
    """``(lines before the chunk, chunk of whole lines)``; a broken gzip stream ends
    with ``(line, RowError)`` at the line after the last whole one (as _readers)."""
    with path.open("rb") as raw:
        gz = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
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
                    yield base, chunk
                    base += chunk.count(b"\n")
                    del chunk
                    rest = tail
                parts, have = [rest], len(rest)
                del rest
        if error is not None:
            yield from _broken_tail(path, base)
            return
        rest = b"".join(parts)
        if rest:
            yield base, rest if rest.endswith(b"\n") else rest + b"\n"


def _broken_tail(path: Path, base: int) -> Iterator[tuple[int, bytes | RowError]]:
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
                    yield base, data if data.endswith(b"\n") else data + b"\n"
                yield line_no, row
                return
            if line_no > base:
                lines.append(row)


def line_kinds(data: bytes) -> str:
    """Which kinds of lines a chunk holds: "e" for event lines (they name "event_id",
    as for ingest/_parallel.validate_line), "i" for any other non-blank line."""
    if b'"event_id"' not in data:
        return "i"
    opening = b'{"event_id":'
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if data.count(b"\n" + opening) + data.startswith(opening) == lines:
        return "e"  # every line opens with the key (a generated or exported file)
    has_invoice = any(b'"event_id"' not in line and line.strip() for line in data.split(b"\n"))
    return "ie" if has_invoice else "e"
