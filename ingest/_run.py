"""One ingest run over files: read, validate, batch, load, reject, report.

Files of invoices are loaded before files of events (so status events find their
invoices); within a file, pending invoices are flushed before pending events.
Rows go to a sink: the store itself (:class:`ingest._loader.Loader`) or a
running service (:class:`ingest._handoff.ServiceSink`), in large batches.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final, Protocol

import msgspec

from ingest._loader import BatchResult, Loader
from ingest._merges import LookupMergeDeferral
from ingest._native import NATIVE_MIN_BYTES, ChunkResult, ingest_native
from ingest._parallel import (
    CHUNK_LINES,
    PARALLEL_MIN_BYTES,
    ParallelValidator,
    validate_line,
)
from ingest._readers import RecordFile, decode_line, read_records, sniff_format
from ingest._records import RowError, is_event, parse_event, parse_invoice
from verify import Invoice, InvoiceEvent
from verify._store._rows import PreparedInvoice

INVOICE_BATCH = 20_000
EVENT_BATCH = 100_000
DEDUP_WINDOW = 1_000_000
"""Ids remembered per file for duplicate detection; beyond it the store's
idempotency still holds (a repeat is skipped as already recorded)."""


class Sink(Protocol):
    def load_invoices(self, invoices: Sequence[Invoice | PreparedInvoice]) -> BatchResult: ...
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
    """Progress on stderr: a one-line bar redrawn on a terminal; elsewhere (a log, a
    pipe) a plain line every LOG_EVERY seconds, flushed, so a log shows a long file's
    progress before it ends."""

    LOG_EVERY: Final = 10.0

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = time.monotonic()

    def update(self, name: str, done: int, total: int, rows: int, started: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < (0.2 if self.tty else self.LOG_EVERY):
            return
        self.last = now
        frac = min(done / total, 1.0) if total else 0.0
        rate = rows / max(now - started, 1e-6)
        if self.tty:
            bar = "#" * int(frac * 30)
            text = f"\r{name[-30:]:30} [{bar:30}] {frac:4.0%} {rows:>11,} rows {rate:>9,.0f}/s"
        else:
            text = f"ingest: {name} {frac:.0%}, {rows:,} rows, {rate:,.0f} rows/s\n"
        sys.stderr.write(text)
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


class _Pipeline:
    """Loads batches on a worker thread while the caller reads and validates the next
    one (chDB and the socket release the GIL); order is kept, errors re-raised."""

    def __init__(
        self,
        sink: Sink,
        summary: FileSummary,
        on_batch: Callable[[BatchResult], Any] | None,
        threaded: bool,
    ) -> None:
        self.sink = sink
        self.summary = summary
        self.on_batch = on_batch
        self.error: BaseException | None = None
        self.queue: queue.Queue[tuple[str, list[Any]] | None] = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._work, daemon=True) if threaded else None
        if self.thread is not None:
            self.thread.start()

    def _load(self, kind: str, rows: list[Any]) -> None:
        load = self.sink.load_invoices if kind == "invoices" else self.sink.load_events
        result = load(rows)
        self.summary.loaded.add(result)
        if self.on_batch is not None:
            self.on_batch(result)

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._load(*item)
                except BaseException as exc:  # re-raised in the caller's thread
                    self.error = exc

    def submit(self, kind: str, rows: list[Any]) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self._load(kind, rows)
        else:
            self.queue.put((kind, rows))

    def close(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error


def file_kind(path: Path) -> str:
    """``events`` when the first data record is an event, else ``invoices``."""
    for _, row, _ in read_records(path):
        record = decode_line(row)[0] if isinstance(row, bytes) else row
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
    threaded: bool = True,
    parallel: bool | None = None,
    native: bool | None = None,
) -> FileSummary:
    """Validate and load one file. ``parallel``: validate NDJSON in worker processes
    (default: for files of PARALLEL_MIN_BYTES or more). ``native``: let ClickHouse
    parse, check and load NDJSON (ingest/_native.py; default: see use_native)."""
    summary = FileSummary(path=str(path))
    rejects = _Rejects(rejects_path)
    if use_native(path, sink, native):
        assert isinstance(sink, Loader)  # use_native said so
        return _ingest_native(path, sink, summary, rejects, progress=progress, on_batch=on_batch)
    invoices: list[Invoice | PreparedInvoice] = []
    events: list[InvoiceEvent] = []
    invoice_keys, event_ids = _Window(), _Window()
    total_bytes = path.stat().st_size
    started = time.monotonic()
    source = RecordFile(path)
    if parallel is None:
        parallel = total_bytes >= PARALLEL_MIN_BYTES and sniff_format(path) == "ndjson"
    pipeline = _Pipeline(sink, summary, on_batch, threaded)

    def flush_invoices() -> None:
        if invoices:
            pipeline.submit("invoices", invoices[:])
            invoices.clear()

    def flush_events() -> None:
        flush_invoices()
        if events:
            pipeline.submit("events", events[:])
            events.clear()

    def reject(line_no: int, err: RowError, text: str) -> None:
        summary.rejected += 1
        rejects.write(str(path), line_no, err, text)

    def accept(line_no: int, parsed: Invoice | PreparedInvoice | InvoiceEvent) -> None:
        if isinstance(parsed, InvoiceEvent):
            first = event_ids.check(parsed.event_id, line_no)
            if first is not None:
                message = f"event_id {parsed.event_id} already on line {first}"
                raise RowError("duplicate_event_id", message, "event_id")
            events.append(parsed)
            if len(events) >= EVENT_BATCH:
                flush_events()
        else:
            first = invoice_keys.check(parsed.invoice_key, line_no)
            if first is not None:
                message = f"invoice {parsed.invoice_key} already on line {first}"
                raise RowError("duplicate_invoice", message, "number")
            invoices.append(parsed)
            if len(invoices) >= INVOICE_BATCH:
                flush_invoices()

    def handle(line_no: int, row: bytes | dict[str, Any] | RowError, text: str) -> None:
        """One row read in this process (the serial path)."""
        try:
            if isinstance(row, RowError):
                raise row
            if isinstance(row, bytes):
                result = validate_line(line_no, row)
                if isinstance(result, tuple):
                    _, code, field, message, text = result
                    raise RowError(code, message, field)
                accept(line_no, result)
            else:
                accept(line_no, parse_event(row) if is_event(row) else parse_invoice(row))
        except RowError as err:
            if not text and isinstance(row, bytes):
                text = row.decode("utf-8", "replace").rstrip("\r\n")
            reject(line_no, err, text)

    def count(row: object) -> None:
        if not (isinstance(row, RowError) and row.code in ("truncated_gzip", "corrupt_gzip")):
            summary.rows += 1  # the end of a broken stream is not a row
        if summary.rows % 4096 == 0:
            progress.update(path.name, source.position(), total_bytes, summary.rows, started)

    try:
        if parallel:
            _ingest_parallel(source, handle, accept, reject, count)
        else:
            for line_no, row, text in source:
                count(row)
                handle(line_no, row, text)
        flush_events()
    except BaseException:
        if pipeline.thread is not None:
            pipeline.queue.put(None)  # let the worker finish; the error goes on
        raise
    else:
        pipeline.close()
    finally:
        rejects.close()
        progress.done()
    if rejects.file is not None:
        summary.rejects_path = str(rejects_path)
    return summary


NATIVE_ENV: Final = "FAPIAO_INGEST_NATIVE"
"""``auto`` (default): the native path for NDJSON files of NATIVE_MIN_BYTES or more
loaded into embedded chDB; ``on``: for every NDJSON file; ``off``: never."""


def use_native(path: Path, sink: Sink, native: bool | None) -> bool:
    if native is False or not isinstance(sink, Loader):
        return False
    if not sink.store.url.startswith("chdb:") or sniff_format(path) != "ndjson":
        return False  # a server: the Python path (the native SQL is untested there)
    if native:
        return True
    mode = os.environ.get(NATIVE_ENV, "auto").strip().lower()
    if mode in ("0", "off", "false", "no"):
        return False
    if mode in ("1", "on", "true", "yes"):
        return True
    return path.stat().st_size >= NATIVE_MIN_BYTES


def _ingest_native(
    path: Path,
    loader: Loader,
    summary: FileSummary,
    rejects: _Rejects,
    *,
    progress: Progress,
    on_batch: Callable[[BatchResult], Any] | None,
) -> FileSummary:
    total_bytes = path.stat().st_size
    started = time.monotonic()

    def reject(line_no: int, err: RowError, text: str) -> None:
        summary.rejected += 1
        rejects.write(str(path), line_no, err, text)

    def on_chunk(result: ChunkResult, done: int) -> None:
        summary.rows += result.rows
        for line_no, err, text in result.rejects:
            reject(line_no, err, text)
        summary.loaded.add(result.loaded)
        if on_batch is not None:
            on_batch(result.loaded)
        progress.update(path.name, min(done, total_bytes), total_bytes, summary.rows, started)

    try:
        ingest_native(path, loader, on_chunk=on_chunk, on_error=lambda n, e: reject(n, e, ""))
    finally:
        rejects.close()
        progress.done()
    if rejects.file is not None:
        summary.rejects_path = str(rejects.path)
    return summary


def _ingest_parallel(
    source: RecordFile,
    handle: Callable[[int, Any, str], None],
    accept: Callable[[int, Invoice | PreparedInvoice | InvoiceEvent], None],
    reject: Callable[[int, RowError, str], None],
    count: Callable[[object], None],
) -> None:
    """NDJSON validated by worker processes, chunk by chunk, in order."""
    tail: list[tuple[int, Any, str]] = []
    sent: deque[list[tuple[int, bytes]]] = deque()
    """The chunks in the workers, oldest first (results come back in order): the text
    of a row the parent rejects (a duplicate) is read from its chunk."""

    def chunks() -> Iterator[list[tuple[int, bytes]]]:
        chunk: list[tuple[int, bytes]] = []
        for line_no, row, text in source:
            if isinstance(row, bytes):
                chunk.append((line_no, row))
                if len(chunk) >= CHUNK_LINES:
                    sent.append(chunk)
                    yield chunk
                    chunk = []
            else:
                tail.append((line_no, row, text))  # a broken gzip stream: its end
        if chunk:
            sent.append(chunk)
            yield chunk

    validator = ParallelValidator()
    try:
        for chunk_invoices, chunk_events, chunk_rejects in validator.validate(chunks()):
            lines = sent.popleft()
            found: list[tuple[Any, ...]] = [*chunk_invoices, *chunk_events, *chunk_rejects]
            found.sort(key=lambda item: item[0])  # line order, as the serial path
            for item in found:
                count(None)
                if len(item) == 2:
                    try:
                        accept(item[0], item[1])
                    except RowError as err:
                        raw = next(row for n, row in lines if n == item[0])
                        reject(item[0], err, raw.decode("utf-8", "replace").rstrip("\r\n"))
                else:
                    line_no, code, field, message, text = item
                    reject(line_no, RowError(code, message, field), text)
    finally:
        validator.close()
    for line_no, row, text in tail:
        count(row)
        handle(line_no, row, text)


def ingest_paths(
    paths: Sequence[Path],
    sink: Sink,
    *,
    rejects_dir: Path | None = None,
    progress: bool = True,
    on_batch: Callable[[BatchResult], Any] | None = None,
    parallel: bool | None = None,
    native: bool | None = None,
    on_file: Callable[[FileSummary], Any] | None = None,
) -> list[FileSummary]:
    """Ingest the files (invoices first); ``on_file(summary)`` as each one ends."""
    bar = Progress(progress)
    ordered = sorted(paths, key=lambda p: file_kind(p) == "events")  # stable: invoices first
    out = []
    # the lookup copy's merges wait for the settle during native files (ingest/_merges.py)
    deferral = LookupMergeDeferral(sink.store) if isinstance(sink, Loader) else None
    try:
        for path in ordered:
            name = path.name + ".rejects.ndjson"
            target = (rejects_dir / name) if rejects_dir else path.with_name(name)
            batch = on_batch
            if deferral is not None and use_native(path, sink, native):
                deferral.pause()
                batch = _checking(deferral, on_batch)
            elif deferral is not None:
                deferral.resume()
            out.append(
                ingest_file(
                    path,
                    sink,
                    rejects_path=target,
                    progress=bar,
                    on_batch=batch,
                    parallel=parallel,
                    native=native,
                )
            )
            if on_file is not None:
                on_file(out[-1])
    finally:
        if deferral is not None:
            deferral.resume()
    return out


def _checking(
    deferral: LookupMergeDeferral, on_batch: Callable[[BatchResult], Any] | None
) -> Callable[[BatchResult], Any]:
    """``on_batch`` that first lets the deferral check its cap (after each chunk)."""

    def batch(result: BatchResult) -> None:
        deferral.check()
        if on_batch is not None:
            on_batch(result)

    return batch
