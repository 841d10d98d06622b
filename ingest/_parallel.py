"""Validation of NDJSON lines in worker processes, for large files.

The parent reads raw lines and loads batches; workers run the fast path (and the
slow path for rows it refuses) on chunks of lines and send back msgpack: the
valid invoices and events with their line numbers, and the rejects. At most a
few chunks are in flight, so memory stays bounded whatever the file's size.
Workers are spawned (not forked: the parent runs chDB's threads).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Final

import msgspec

from ingest._fast import fast_event, fast_invoice
from ingest._readers import decode_line
from ingest._records import RowError, is_event, parse_event, parse_invoice
from verify import Invoice, InvoiceEvent
from verify._store._rows import PreparedInvoice, prepare

CHUNK_LINES: Final = 2_000
PARALLEL_MIN_BYTES: Final = 16 * 1024 * 1024
"""Smaller files are validated in-process: starting workers would cost more."""

Reject = tuple[int, str, str | None, str, str]
"""(line, code, field, reason, raw text)"""
Chunk = tuple[list[tuple[int, PreparedInvoice]], list[tuple[int, InvoiceEvent]], list[Reject]]

_encoder: Final = msgspec.msgpack.Encoder(decimal_format="string")
_decoder: Final = msgspec.msgpack.Decoder(Chunk)


def validate_line(line_no: int, line: bytes) -> Invoice | InvoiceEvent | Reject:
    """One NDJSON line: its record, or why it is rejected."""
    parsed = fast_event(line) if b'"event_id"' in line else fast_invoice(line)
    if parsed is not None:
        return parsed
    record, text = decode_line(line)
    try:
        if isinstance(record, RowError):
            raise record
        return parse_event(record) if is_event(record) else parse_invoice(record)
    except RowError as err:
        return (line_no, err.code, err.field, err.message, text)


def _work(lines: list[tuple[int, bytes]]) -> bytes:
    invoices: list[tuple[int, PreparedInvoice]] = []
    events: list[tuple[int, InvoiceEvent]] = []
    rejects: list[Reject] = []
    for line_no, line in lines:
        result = validate_line(line_no, line)
        if isinstance(result, Invoice):
            invoices.append((line_no, prepare(result)))  # the row, built here
        elif isinstance(result, InvoiceEvent):
            events.append((line_no, result))
        else:
            rejects.append(result)
    return _encoder.encode((invoices, events, rejects))


def workers() -> int:
    """Validation processes beside the parent: the CPUs the parent leaves, at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class ParallelValidator:
    """``validate(chunks)`` yields each chunk's results, in order."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or workers()
        self.pool = cf.ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn")
        )

    def validate(self, chunks: Iterable[list[tuple[int, bytes]]]) -> Iterator[Chunk]:
        pending: deque[cf.Future[bytes]] = deque()
        for chunk in chunks:
            pending.append(self.pool.submit(_work, chunk))
            if len(pending) > 2 * self.processes:
                yield _decoder.decode(pending.popleft().result())
        while pending:
            yield _decoder.decode(pending.popleft().result())

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
