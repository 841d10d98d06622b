"""Read import files: NDJSON or CSV, plain or gzip (sniffed from the first bytes).

Yields ``(line_no, line | record | RowError, raw)`` per data line, streaming: memory
does not grow with the file. A line that is not valid UTF-8 or not a JSON object
is a :class:`RowError` for that line; a truncated or corrupt gzip stream ends
the file with a ``truncated_gzip`` / ``corrupt_gzip`` error at the line it broke.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from ingest._records import PARTY_FIELDS, RowError

GZIP_MAGIC: Final = b"\x1f\x8b"
_json = msgspec.json.Decoder()
Row = tuple[int, bytes | dict[str, Any] | RowError, str]
"""(line number, raw NDJSON line | CSV record | error, text for the rejects file)"""


def open_binary(path: Path) -> tuple[IO[bytes], bool]:
    """The file's bytes (decompressed when gzip), and whether it was gzip."""
    raw = path.open("rb")
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), True  # type: ignore[return-value]
    raw.seek(0)
    return raw, False


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | RowError]]:
    """Numbered raw lines; a broken gzip stream ends with one error."""
    line_no = 0
    try:
        for line in stream:
            line_no += 1
            yield line_no, line
    except EOFError:
        yield line_no + 1, RowError("truncated_gzip", "gzip stream ends early (truncated file)")
    except (gzip.BadGzipFile, zlib.error) as exc:
        yield line_no + 1, RowError("corrupt_gzip", f"gzip stream is corrupt: {exc}")


def _decode(line: bytes) -> str | RowError:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError("invalid_utf8", f"invalid UTF-8 at byte {exc.start}")


def sniff_format(path: Path) -> str:
    """``ndjson`` or ``csv``: the first non-blank byte ``{`` means NDJSON."""
    stream, _ = open_binary(path)
    with stream:
        try:
            head = stream.read(4096)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            return "ndjson"
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "ndjson" if not head or head[:1] in (b"{", b"[") else "csv"


def decode_line(line: bytes) -> tuple[dict[str, Any] | RowError, str]:
    """One NDJSON line to a dict, or the precise reason it is not one; and its text."""
    text = _decode(line)
    if isinstance(text, RowError):
        return text, line.decode("utf-8", "replace").rstrip("\r\n")
    text = text.rstrip("\r\n")
    try:
        record = _json.decode(line)
    except msgspec.DecodeError as exc:
        return RowError("invalid_json", f"not valid JSON: {exc}"), text
    if not isinstance(record, dict):
        return RowError("not_an_object", "each line must be a JSON object"), text
    return record, text


def read_ndjson(stream: IO[bytes]) -> Iterator[Row]:
    """Raw lines (bytes), decoded later: the fast path decodes straight into Structs."""
    for line_no, line in _lines(stream):
        if isinstance(line, RowError):
            yield line_no, line, ""
            return
        if line.strip():
            yield line_no, line, ""


def _csv_record(header: list[str], row: list[str]) -> dict[str, Any] | RowError:
    if len(row) != len(header):
        return RowError("csv_columns", f"{len(row)} columns, the header has {len(header)}")
    flat = dict(zip(header, row, strict=True))
    record: dict[str, Any] = {}
    for role in ("seller", "buyer"):
        party = {f: flat.pop(f"{role}_{f}") for f in PARTY_FIELDS if f"{role}_{f}" in flat}
        if party:
            record[role] = party
    for name in ("items", "detail"):
        if name in flat:
            text = flat.pop(name).strip()
            try:
                record[name] = _json.decode(text) if text else None
            except msgspec.DecodeError:
                return RowError("invalid_json", f"{name} is not valid JSON", name)
    record.update(flat)
    return record


def read_csv(stream: IO[bytes]) -> Iterator[Row]:
    """CSV with a header; ``items`` / ``detail`` columns hold JSON."""
    bad: dict[int, RowError] = {}
    raw_lines: dict[int, str] = {}
    tail: list[tuple[int, RowError]] = []

    def text_lines() -> Iterator[str]:
        for line_no, line in _lines(stream):
            if isinstance(line, RowError):
                tail.append((line_no, line))
                return
            text = _decode(line)
            if isinstance(text, RowError):
                bad[line_no] = text
                raw_lines[line_no] = line.decode("utf-8", "replace").rstrip("\r\n")
                yield "\n"  # keeps the csv reader's line count in step
                continue
            yield text

    reader = csv.reader(text_lines())
    header: list[str] | None = None
    for row in reader:
        line_no = reader.line_num
        if line_no in bad:
            yield line_no, bad.pop(line_no), raw_lines.pop(line_no, "")
            continue
        if header is None:
            header = [h.strip().lstrip("\ufeff") for h in row]
            continue
        if not row or not any(cell.strip() for cell in row):
            continue
        yield line_no, _csv_record(header, row), ",".join(row)
    for line_no, err in tail:
        yield line_no, err, ""


class RecordFile:
    """All data lines of one import file, whatever its format; ``position()`` tells
    how far into the (compressed) bytes reading has come, for a progress bar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw: IO[bytes] | None = None

    def position(self) -> int:
        raw = self._raw
        return raw.tell() if raw is not None and not raw.closed else 0

    def __iter__(self) -> Iterator[Row]:
        fmt = sniff_format(self.path)
        with self.path.open("rb") as raw:
            self._raw = raw
            gz = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw  # type: ignore[assignment]
            with stream:
                yield from (read_ndjson(stream) if fmt == "ndjson" else read_csv(stream))


def read_records(path: Path) -> Iterator[Row]:
    """All data lines of one import file, whatever its format."""
    return iter(RecordFile(path))
