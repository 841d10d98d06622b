"""One ingest run over files: read, validate, batch, load, reject, report.

Files of invoices are loaded before files of events (so status events find their
invoices); within a file, pending invoices are flushed before pending events.
Rows go to a sink: the store itself (:class:`ingest._loader.Loader`) or a
running service (:class:`ingest._handoff.ServiceSink`), in large batches.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from ingest._loader import BatchResult
from ingest._readers import RecordFile, read_records
from ingest._records import RowError, is_event, parse_event, parse_invoice
from verify import Invoice, InvoiceEvent

INVOICE_BATCH = 20_000
EVENT_BATCH = 100_000
DEDUP_WINDOW = 1_000_000
"""Ids remembered per file for duplicate detection; beyond it the store's
idempotency still holds (a repeat is skipped as already recorded)."""


class Sink(Protocol):
    def load_invoices(self, invoices: Sequence[Invoice]) -> BatchResult: ...
    def load_events(self, events: Sequence[InvoiceEvent]) -> BatchResult: ...


class FileSummary(msgspec.Struct, kw_only=True):
    path: str
    rows: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    loaded: BatchResult = msgspec.field(default_factory=BatchResult)

    def line(self) -> str:
        r = self.loaded
        text = (
            f"{self.path}: {self.rows} rows, invoices {r.invoices_written} written"
            f" {r.invoices_unchanged} unchanged, events {r.events_written} written"
            f" {r.events_known} known, {r.status_changes} status changes,"
            f" {self.rejected} rejected"
        )
        return text + (f" (see {self.rejects_path})" if self.rejects_path else "")


class _Window:
    """Remembers the last ``size`` ids (by hash) and the line each was seen on."""

    def __init__(self, size: int = DEDUP_WINDOW) -> None:
        self.size = size
        self.seen: dict[int, int] = {}

    def check(self, ident: str, line_no: int) -> int | None:
        h = hash(ident)
        first = self.seen.get(h)
        if first is not None:
            return first
        self.seen[h] = line_no
        if len(self.seen) > self.size:
            del self.seen[next(iter(self.seen))]
        return None


class _Rejects:
    """The rejects file: one JSON object per rejected row, opened on the first one."""

    _encoder = msgspec.json.Encoder()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[bytes] | None = None
        path.unlink(missing_ok=True)  # a rerun's rejects replace the last run's

    def write(self, source: str, line_no: int, err: RowError, raw: str) -> None:
        if self.file is None:
            self.file = self.path.open("wb")
        record = {
            "file": source,
            "line": line_no,
            "code": err.code,
            "field": err.field,
            "reason": err.message,
            "raw": raw[:2000],
        }
        self.file.write(self._encoder.encode(record) + b"\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class Progress:
    """A one-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def update(self, name: str, done: int, total: int, rows: int, started: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last = now
        frac = min(done / total, 1.0) if total else 0.0
        bar = "#" * int(frac * 30)
        rate = rows / max(now - started, 1e-6)
        sys.stderr.write(
            f"\r{name[-30:]:30} [{bar:30}] {frac:4.0%} {rows:>11,} rows {rate:>9,.0f}/s"
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def file_kind(path: Path) -> str:
    """``events`` when the first data record is an event, else ``invoices``."""
    for _, record, _ in read_records(path):
        if isinstance(record, dict):
            return "events" if is_event(record) else "invoices"
        if record.code in ("truncated_gzip", "corrupt_gzip"):
            break
    return "invoices"


def ingest_file(
    path: Path,
    sink: Sink,
    *,
    rejects_path: Path,
    progress: Progress,
    on_batch: Callable[[BatchResult], Any] | None = None,
) -> FileSummary:
    summary = FileSummary(path=str(path))
    rejects = _Rejects(rejects_path)
    invoices: list[Invoice] = []
    events: list[InvoiceEvent] = []
    invoice_keys, event_ids = _Window(), _Window()
    total_bytes = path.stat().st_size
    started = time.monotonic()
    source = RecordFile(path)

    def flush_invoices() -> None:
        if invoices:
            result = sink.load_invoices(invoices)
            summary.loaded.add(result)
            if on_batch:
                on_batch(result)
            invoices.clear()

    def flush_events() -> None:
        flush_invoices()
        if events:
            result = sink.load_events(events)
            summary.loaded.add(result)
            if on_batch:
                on_batch(result)
            events.clear()

    try:
        for line_no, record, text in source:
            summary.rows += 1
            try:
                if isinstance(record, RowError):
                    raise record
                if is_event(record):
                    ev = parse_event(record)
                    first = event_ids.check(ev.event_id, line_no)
                    if first is not None:
                        raise RowError(
                            "duplicate_event_id",
                            f"event_id {ev.event_id} already on line {first}",
                            "event_id",
                        )
                    events.append(ev)
                    if len(events) >= EVENT_BATCH:
                        flush_events()
                else:
                    inv = parse_invoice(record)
                    first = invoice_keys.check(inv.invoice_key, line_no)
                    if first is not None:
                        raise RowError(
                            "duplicate_invoice",
                            f"invoice {inv.invoice_key} already on line {first}",
                            "number",
                        )
                    invoices.append(inv)
                    if len(invoices) >= INVOICE_BATCH:
                        flush_invoices()
            except RowError as err:
                summary.rejected += 1
                rejects.write(str(path), line_no, err, text)
                if err.code in ("truncated_gzip", "corrupt_gzip"):
                    summary.rows -= 1  # not a row: the end of a broken stream
            if summary.rows % 4096 == 0:
                progress.update(path.name, source.position(), total_bytes, summary.rows, started)
        flush_events()
    finally:
        rejects.close()
        progress.done()
    if rejects.file is not None:
        summary.rejects_path = str(rejects_path)
    return summary


def ingest_paths(
    paths: Sequence[Path],
    sink: Sink,
    *,
    rejects_dir: Path | None = None,
    progress: bool = True,
    on_batch: Callable[[BatchResult], Any] | None = None,
) -> list[FileSummary]:
    bar = Progress(progress)
    ordered = sorted(paths, key=lambda p: file_kind(p) == "events")  # stable: invoices first
    out = []
    for path in ordered:
        name = path.name + ".rejects.ndjson"
        target = (rejects_dir / name) if rejects_dir else path.with_name(name)
        out.append(ingest_file(path, sink, rejects_path=target, progress=bar, on_batch=on_batch))
    return out
