"""``fapiao generate``: realistic synthetic invoices and flow events, at any scale.

Public entry points (re-exported by :mod:`ingest`):

- :func:`generate` writes ``invoices.<fmt>`` and ``events.<fmt>`` (``.gz`` with gzip)
  into a directory and returns a :class:`GenerateSummary`;
- :func:`iter_invoices_and_events` yields ``(invoice_record, [event_records])`` in
  memory, in the import format of docs/import-format.md (a red-letter invoice is
  yielded as its own pair right after the invoice it reverses);
- :func:`qr_line` is the QR payload printed on an invoice (DOMAIN.md §1);
- :func:`run_generate` is the CLI subcommand.

Determinism: the data depend only on ``(n, seed, today)``; the work is cut into
fixed chunks of invoices, each with its own random stream, so the bytes written are
the same whether one process or several make them. ``n`` counts every invoice
record, red-letter ones included. An invoice record carries its *final* ``status``
(what its events lead to), so loading invoices and events in either order, or
twice, gives the same registry.

Scale: chunks are rendered (and gzip-compressed, one gzip member each) in worker
processes and written in order by the parent, at most a few chunks in flight, so
memory does not grow with ``n``. Files appear under their final names only when
complete.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import csv
import datetime as dt
import gc
import gzip as gzip_module
import hashlib
import io
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import msgspec

from ingest._generate_base import CHUNK
from ingest._generate_records import ChunkMaker
from verify import DIGITAL_KINDS, Settings
from verify import today as settings_today

_PARTY_FIELDS: Final = ("tax_id", "name", "address", "phone", "bank", "account")
INVOICE_CSV_COLUMNS: Final = (
    "kind", "code", "number", "issue_date", "amount", "tax", "total", "check_code", "status",
    "risk_level",
    *(f"seller_{f}" for f in _PARTY_FIELDS),
    *(f"buyer_{f}" for f in _PARTY_FIELDS),
    "items", "machine_no", "remarks",
)  # fmt: skip
EVENT_CSV_COLUMNS: Final = (
    "event_id", "invoice_key", "event_time", "kind", "actor_tax_id", "channel", "detail",
)  # fmt: skip
GZIP_LEVEL: Final = 1
"""Fast compression: generation is meant to keep up with ingest."""

Record = dict[str, Any]


class GenerateSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What one generation wrote."""

    invoices: int
    events: int
    seed: int
    today: dt.date
    invoices_path: Path | None = None
    events_path: Path | None = None
    by_kind: dict[str, int] = msgspec.field(default_factory=dict)
    by_status: dict[str, int] = msgspec.field(default_factory=dict)
    red_invoices: int = 0
    seconds: float = 0.0


def china_today() -> dt.date:
    """Today in China time (the default ``today``: issue dates end yesterday)."""
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def qr_line(invoice: Record) -> str:
    """The QR payload line printed on ``invoice`` (DOMAIN.md §1).

    Legacy kinds carry the amount excluding tax, 数电 kinds the total including tax;
    electronic special invoices (verification kind 08) print QR kind 20; the tail is
    four hex characters (opaque on real invoices; here a hash of the invoice key).
    """
    kind = invoice["kind"]
    qr_kind = "20" if kind == "08" else kind
    amount = invoice["total"] if kind in DIGITAL_KINDS else invoice["amount"]
    key = invoice["code"] + invoice["number"]
    tail = hashlib.blake2b(key.encode(), digest_size=2).hexdigest().upper()
    date = invoice["issue_date"].replace("-", "")
    code, number, check = invoice["code"], invoice["number"], invoice["check_code"]
    return f"01,{qr_kind},{code},{number},{amount},{date},{check},{tail}"


def iter_invoices_and_events(
    n: int, seed: int, today: dt.date | None = None, *, digital_paper: bool = True
) -> Iterator[tuple[Record, list[Record]]]:
    """``(invoice_record, [event_records])`` for ``n`` invoices, streaming, in memory.

    Exactly the records :func:`generate` writes for the same arguments. Each pair is
    fresh: mutating it does not affect later ones.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    maker = ChunkMaker(seed, today or china_today(), digital_paper=digital_paper)
    for c in range((n + CHUNK - 1) // CHUNK):
        for invoice, events in maker.chunk(c, c * CHUNK, min(n, (c + 1) * CHUNK)):
            yield (
                {**invoice, "seller": dict(invoice["seller"]), "buyer": dict(invoice["buyer"])},
                events,
            )


# -- rendering one chunk (runs in a worker process) --------------------------------------

_makers: dict[tuple[int, dt.date, bool], ChunkMaker] = {}
_raw_parties: dict[int, msgspec.Raw] = {}
"""Pool parties (long-lived, shared by many invoices) encoded once, by ``id``."""
_encoder = msgspec.json.Encoder()


def _maker(seed: int, today: dt.date, digital_paper: bool = True) -> ChunkMaker:
    maker = _makers.get((seed, today, digital_paper))
    if maker is None:
        _makers.clear()
        _raw_parties.clear()
        maker = ChunkMaker(seed, today, digital_paper=digital_paper)
        _makers[(seed, today, digital_paper)] = maker
    return maker


def _pre_encode_parties(invoices: list[Record], pool_ids: frozenset[int]) -> None:
    """Swap pool parties for their JSON bytes (the output is identical, encoding is faster)."""
    raw = _raw_parties
    for inv in invoices:
        for role in ("seller", "buyer"):
            party = inv[role]
            if id(party) in pool_ids:
                encoded = raw.get(id(party))
                if encoded is None:
                    encoded = raw[id(party)] = msgspec.Raw(_encoder.encode(party))
                inv[role] = encoded


def _invoice_row(rec: Record) -> list[str]:
    seller, buyer = rec["seller"], rec["buyer"]
    return [
        rec["kind"], rec["code"], rec["number"], rec["issue_date"], rec["amount"], rec["tax"],
        rec["total"], rec["check_code"], rec["status"], rec["risk_level"],
        *(seller.get(f, "") for f in _PARTY_FIELDS),
        *(buyer.get(f, "") for f in _PARTY_FIELDS),
        _encoder.encode(rec["items"]).decode(), rec["machine_no"], rec["remarks"],
    ]  # fmt: skip


def _event_row(ev: Record) -> list[str]:
    return [
        ev["event_id"], ev["invoice_key"], ev["event_time"], ev["kind"], ev["actor_tax_id"],
        ev["channel"], _encoder.encode(ev["detail"]).decode(),
    ]  # fmt: skip


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def render_chunk(
    seed: int,
    n: int,
    today: dt.date,
    chunk: int,
    *,
    fmt: str,
    gzip: bool,
    digital_paper: bool = True,
) -> tuple[bytes, bytes, int, int, dict[str, int], dict[str, int], int]:
    """One chunk as file bytes: (invoices, events, #invoices, #events, kinds, statuses, reds)."""
    maker = _maker(seed, today, digital_paper)
    gc_was_on = gc.isenabled()
    gc.disable()  # records hold no cycles; collection passes over them only cost time
    try:
        pairs = maker.chunk(chunk, chunk * CHUNK, min(n, (chunk + 1) * CHUNK))
        invoices = [inv for inv, _ in pairs]
        events = [ev for _, evs in pairs for ev in evs]
        kinds = collections.Counter(inv["kind"] for inv in invoices)
        statuses = collections.Counter(inv["status"] for inv in invoices)
        reds = sum(1 for inv in invoices if inv["amount"].startswith("-"))
        if fmt == "csv":
            inv_bytes = _csv([_invoice_row(r) for r in invoices])
            ev_bytes = _csv([_event_row(e) for e in events])
        else:
            _pre_encode_parties(invoices, maker.pool.party_ids)
            inv_bytes = _encoder.encode_lines(invoices)
            ev_bytes = _encoder.encode_lines(events)
        counts = len(invoices), len(events)
        del pairs, invoices, events
    finally:
        if gc_was_on:
            gc.enable()
    if gzip:
        inv_bytes = gzip_module.compress(inv_bytes, GZIP_LEVEL, mtime=0)
        ev_bytes = gzip_module.compress(ev_bytes, GZIP_LEVEL, mtime=0)
    return inv_bytes, ev_bytes, *counts, dict(kinds), dict(statuses), reds


def _render_task(task: tuple[int, int, dt.date, int, str, bool, bool]) -> tuple[Any, ...]:
    seed, n, today, chunk, fmt, gzip, digital_paper = task
    return render_chunk(seed, n, today, chunk, fmt=fmt, gzip=gzip, digital_paper=digital_paper)


# -- writing ---------------------------------------------------------------------------------


def output_paths(out_dir: Path, fmt: str = "ndjson", gzip: bool = False) -> tuple[Path, Path]:
    """Where :func:`generate` writes invoices and events."""
    suffix = f".{fmt}" + (".gz" if gzip else "")
    return out_dir / f"invoices{suffix}", out_dir / f"events{suffix}"


def generate(  # noqa: PLR0917 - the signature other parts call
    n: int,
    seed: int,
    out_dir: Path,
    fmt: str = "ndjson",
    gzip: bool = False,
    today: dt.date | None = None,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    digital_paper: bool = True,
) -> GenerateSummary:
    """Write ``n`` invoices and their events into ``out_dir``; see the module docstring.

    ``workers``: processes to render chunks in (default: up to 2 when there are several
    chunks, 0 = in this process). ``progress`` is called with the invoices written so far.
    ``digital_paper``: print ~1.5 % of 31/32 on paper (a code beside the 20-digit
    number, DOMAIN.md §1); off by default while fapiao ingest refuses such records.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if fmt not in ("ndjson", "csv"):
        raise ValueError(f"unknown format {fmt!r} (ndjson or csv)")
    started = time.perf_counter()
    today = today or china_today()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inv_path, ev_path = output_paths(out_dir, fmt, gzip)
    tmp_inv, tmp_ev = (p.with_name(f".{p.name}.partial") for p in (inv_path, ev_path))
    chunks = (n + CHUNK - 1) // CHUNK
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if chunks > 2 else 0
    tasks = ((seed, n, today, c, fmt, gzip, digital_paper) for c in range(chunks))
    totals = [0, 0, 0]
    kinds: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[str] = collections.Counter()
    try:
        with open(tmp_inv, "wb") as inv_file, open(tmp_ev, "wb") as ev_file:
            if fmt == "csv":
                for f, header in ((inv_file, INVOICE_CSV_COLUMNS), (ev_file, EVENT_CSV_COLUMNS)):
                    head = _csv([list(header)])
                    f.write(gzip_module.compress(head, GZIP_LEVEL, mtime=0) if gzip else head)
            for inv_bytes, ev_bytes, n_inv, n_ev, k, s, reds in _results(tasks, workers):
                inv_file.write(inv_bytes)
                ev_file.write(ev_bytes)
                totals[0] += n_inv
                totals[1] += n_ev
                totals[2] += reds
                kinds.update(k)
                statuses.update(s)
                if progress is not None:
                    progress(totals[0])
    except BaseException:  # interrupted or failed: leave no half file behind
        tmp_inv.unlink(missing_ok=True)
        tmp_ev.unlink(missing_ok=True)
        raise
    tmp_inv.replace(inv_path)
    tmp_ev.replace(ev_path)
    return GenerateSummary(
        invoices=totals[0],
        events=totals[1],
        seed=seed,
        today=today,
        invoices_path=inv_path,
        events_path=ev_path,
        by_kind=dict(sorted(kinds.items())),
        by_status=dict(sorted(statuses.items())),
        red_invoices=totals[2],
        seconds=round(time.perf_counter() - started, 3),
    )


def _results(
    tasks: Iterator[tuple[Any, ...]],
    workers: int,
    render: Callable[[tuple[Any, ...]], Any] = _render_task,
) -> Iterator[Any]:
    """Rendered chunks in order; with workers, at most ``2 * workers`` in flight.

    Workers start with SIGINT blocked (they inherit the mask a submit runs under), so a
    Ctrl-C, which the terminal sends to the whole process group, interrupts only this
    process: a worker hit while starting up printed its own traceback. On any exception
    here the queued chunks are dropped; the running ones finish.
    """
    if workers <= 0:
        yield from map(render, tasks)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        window: collections.deque[cf.Future[Any]] = collections.deque()
        try:
            for task in tasks:
                unmasked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    window.append(pool.submit(render, task))
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, unmasked)
                if len(window) >= 2 * workers:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


# -- the CLI subcommand ---------------------------------------------------------------------


MAX_INVOICES: Final = 1_000_000_000
"""The most ``fapiao generate`` makes in one run (about 1 TB of NDJSON, days of work):
a larger --invoices is a typo, refused at once instead of filling the disk."""


def run_generate(args: argparse.Namespace, settings: Settings) -> int:
    """``fapiao generate --invoices N [--seed S] --out DIR [--format ndjson|csv] [--gzip]``."""
    n = int(args.invoices)
    if n < 0:
        print("fapiao generate: --invoices must be >= 0", file=sys.stderr)
        return 2
    if not str(args.out).strip():
        print("fapiao generate: --out must name a directory", file=sys.stderr)
        return 2
    if n > MAX_INVOICES:
        print(
            f"fapiao generate: --invoices must be <= {MAX_INVOICES:,}, not {n:,}", file=sys.stderr
        )
        return 2
    show = sys.stderr.isatty()

    def progress(done: int) -> None:
        print(
            f"\rgenerated {done:,}/{n:,} invoices ({done * 100 // max(n, 1)}%)",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        summary = generate(
            n,
            int(args.seed),
            Path(args.out),
            fmt=getattr(args, "format", "ndjson") or "ndjson",
            gzip=bool(getattr(args, "gzip", False)),
            today=settings_today(settings),
            progress=progress if show else None,
            digital_paper=bool(getattr(args, "digital_paper", False)),
        )
    except OSError as exc:
        print(f"\nfapiao generate: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    if show:
        print(file=sys.stderr)
    rate = summary.invoices / summary.seconds if summary.seconds else 0.0
    print(
        f"wrote {summary.invoices:,} invoices ({summary.red_invoices:,} red-letter) to "
        f"{summary.invoices_path}\nwrote {summary.events:,} events to {summary.events_path}\n"
        f"seed {summary.seed}, issue dates up to {summary.today - dt.timedelta(days=1)}, "
        f"{summary.seconds:.1f} s ({rate:,.0f} invoices/s)\n"
        f"kinds: {' '.join(f'{k}={v}' for k, v in summary.by_kind.items())}\n"
        f"status: {' '.join(f'{k}={v}' for k, v in summary.by_status.items())}"
    )
    return 0
