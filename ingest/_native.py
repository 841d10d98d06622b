"""The native NDJSON path: ClickHouse parses, checks and loads the rows; Python only
streams the bytes and handles what SQL does not accept.

Per chunk of whole lines (CHUNK_BYTES, gzip decompressed here so a truncated file
breaks at a precise line, as on the Python path):

1. the chunk goes to a temp file; ``file(..., LineAsString)`` gives each line with
   its row number in the chunk (``_row_number``), so line numbers are exact;
2. SQL parses and checks each line (ingest/_native_sql.py) into per-run Memory
   tables; the distinct taxpayer IDs and legacy codes go through the verify core
   (memoised, shared with the fast path) and come back as a table of valid values;
3. rows SQL does not accept (a small share) are read back with their text and go
   through the Python path (``validate_line``): it rejects them with the exact
   reason, or accepts them and the existing Loader loads them;
4. duplicates within the file (invoice keys, event ids) are found over both kinds
   of accepted rows, against a window of what earlier chunks accepted;
5. accepted rows are written by ``INSERT ... SELECT`` with the Loader's semantics:
   an unchanged source_hash is skipped, known event ids are skipped (a probe
   first, as in the Loader), versions above existing ones, keys to the change log.

Step 1 and step 2's parse of chunks k+1 and k+2 run on a second connection to the
same engine, in a thread, one after the other, while chunk k goes through steps 2-5
(chDB releases the GIL and runs both at once: the two cores of this machine); their
tables rotate over three sets (SLOTS), so neither side waits for the other to end a
chunk of about its own length. Everything after the parse stays in chunk order, so
rejects, duplicates, versions and kill safety are as with one chunk at a time.
The one exception: a chunk of one kind (events only, or invoices only) is written
(step 5's inserts) on a fourth connection while the main one checks the next chunk
(``NativeRun._write_beside``; each phase's load was bound by the main connection,
the events' insert ~60 % of it, the invoices' lookup copy half): one write at a
time, in chunk order, and what reads what it writes waits for it (a refold, a chunk
with invoices after events, the end of the file), as does the next parse into its
slot's tables.

Statuses are folded by the Loader (Python): for the invoices of a chunk whose keys
already have recorded status events (ingest/_native_load.fold), and for the
invoices named by status-changing events once those are recorded
(``Loader.refold``), in batches of chunks (:func:`ingest_native`): a refold's reads
select granules of ``invoices`` by key, and a chunk's ~2 450 keys fall in most of
them, so the keys of a few chunks cost a refold little more than one chunk's. A
batch is refolded on a third connection while the next chunk of events loads
(``fold_beside``), or at once before a chunk with invoices, after a broken gzip
stream, at the end of the file and after an error.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ingest import _native_load as native_load
from ingest import _native_sql as sql
from ingest._fast import valid_legacy_code, valid_tax_id
from ingest._loader import BatchResult, Loader
from ingest._native_chunks import Chunk, events_only, read_chunks
from ingest._parallel import validate_line
from ingest._records import RowError
from verify import STATUS_CHANGING_EVENTS, Invoice, InvoiceEvent
from verify._store._rows import PreparedInvoice

CHUNK_BYTES: Final = 48 * 1024 * 1024
NATIVE_MIN_BYTES: Final = 4 * 1024 * 1024
"""Smaller files go the Python way: a chunk's fixed cost (a dozen queries) is ~50 ms."""
WINDOW: Final = 1_000_000
"""Ids remembered for duplicate detection: between WINDOW and 2 * WINDOW of the
last accepted (the Python path: the last DEDUP_WINDOW)."""
_PARSE_SETTINGS: Final = {"short_circuit_function_evaluation": "disable"}
"""Lazy AND/if re-evaluates the shared JSON extraction per branch: ~12x slower."""
_WRITE_SETTINGS: Final = {
    **_PARSE_SETTINGS,
    "optimize_on_insert": 0,
    "parallel_view_processing": 1,
}
"""No ReplacingMergeTree merge pass over each inserted block (and its views' blocks):
a chunk never holds one key twice (duplicates within the file are rejected before
the write), reads pick the newest version and drop a replayed event id anyway, and
merges still replace. It cost an event row 4.8 vs 2.0 us with both views (one
100 000-row chunk, docs/adr/0001). ``parallel_view_processing``: an insert into
``invoice_events`` pushes to its two views concurrently, not one sink after another
(the native path's events are bound by the main connection: one 238 000-event
chunk's insert 0.235 vs 0.266 s wall, median of 6 alternated, for 0.278 vs 0.268
CPU-s, 2026-11-25); a view and its table had no order between them before either."""
SLOTS: Final = 3
"""Sets of parse tables: the chunk being loaded and up to two parsed (or parsing)
ahead of it. With two, the parse of k+1 and the load of k started together and the
one done first waited for the other, every chunk; with a chunk more queued, each
side goes on to its next chunk."""
_PER_SLOT: Final = ("pi", "pe", "xi", "xe", "twi", "twe", "sm")
"""The work tables of a chunk that its write reads (a slot's; the others are shared)."""
_BYTES: Final = {"line": "bytes", "doc": "bytes", "old_doc": "bytes"}
_ACTIVE: set[str] = set()
"""Tags of the runs in progress in this process (their work tables are not stale)."""
REFOLD_KEYS: Final = 20_000
"""Keys whose statuses are refolded at once, at most (a batch of this many starts as
soon as the chunks loaded name them): the store asks for 20 000 keys a query, and the
29 142 keys of a 10^6 ingest cost 1.61-1.82 CPU-s in its 12 chunks' refolds, 0.31-0.35
in one query (docs/import-format.md). Bounds the batch's memory at any file size."""


@dataclass
class _Staged:
    """A chunk whose write and parse were started: its file and parse tables."""

    base: int
    tmp: str
    slot: int
    done: int
    written: Future[None]
    """Set once the chunk is in its file: until then its bytes must stay as they are."""
    parse: Future[tuple[str, int]]
    """The kinds of lines the chunk holds ("i", "e" or "ie": :meth:`NativeRun._parse`)
    and its rows parsed, once it is parsed."""

    @property
    def kinds(self) -> str:
        return self.parse.result()[0]


@dataclass
class ChunkResult:
    rows: int = 0
    loaded: BatchResult = field(default_factory=BatchResult)
    rejects: list[tuple[int, RowError, str]] = field(default_factory=list)
    refold: list[str] = field(default_factory=list)
    """The invoices named by the chunk's status-changing events (new or recorded: a
    rerun completes a killed run), whose statuses are still to refold; their changes
    are counted in ``loaded.status_changes`` of the chunk reported when the batch's
    refold ends (:func:`ingest_native`)."""


def _valid_id(value: str) -> bool:
    """A value SQL asks about, ``t:<taxpayer ID>`` or ``c:<code>/<kind>``, checked by the
    verify core through the fast path's memoised checks (the same rules, once each)."""
    tag, _, text = value.partition(":")
    if tag == "t":
        return valid_tax_id(text)
    code, _, kind = text.partition("/")
    return valid_legacy_code(code, kind)


class NativeRun:
    """The per-run tables and state of one file's native ingest (``close`` drops them)."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.client: Any = loader.store.client
        self.params = sql.params()
        self._drop_stale()
        tag = uuid.uuid4().hex[:12]
        _ACTIVE.add(tag)
        self.tag = tag
        self.t = {
            name: f"_ingest_{tag}_{name}"
            for name in (
                *(f"{name}{slot}" for slot in range(SLOTS) for name in _PER_SLOT),
                "valid", "pyi", "pye", "di", "de", "si0", "si1", "se0", "se1",
            )
        }  # fmt: skip
        self._use_slot(0)
        self.slot = 0
        """The parse tables the next chunk gets (``p<kind><slot>``, slot < SLOTS)."""
        self.parser: Any = loader.store.another_client()
        """A second connection: the chunks ahead (up to SLOTS - 1) are parsed on it while chunk k
        is loaded."""
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fapiao-parse")
        self.side: Loader | None = None
        """The Loader that refolds a batch beside the next chunk of events (fold_beside)."""
        self.side_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fapiao-fold")
        self.writer: Loader | None = None
        """The Loader that writes a chunk of one kind beside the next chunk's checks
        (:meth:`_write_beside`), on a connection of its own."""
        self.write_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fapiao-write")
        self.writing: tuple[Future[BatchResult], ChunkResult, str] | None = None
        """The write of the last chunk of one kind, while it may run, with the result
        its Python-path rows' counts go to and its kind (:meth:`drain`)."""
        self.slot_writes: list[Future[BatchResult] | None] = [None] * SLOTS
        """The write that reads each slot's tables: the slot's next parse waits for it."""
        self.window = {"i": 0, "e": 0}
        self.current = {"i": 1, "e": 1}
        """Which of a kind's two seen tables (``s<kind>0``/``s<kind>1``) takes new ids."""
        self.tmpdir = tempfile.mkdtemp(prefix="fapiao-ingest-")
        c = self.cmd
        for slot in range(SLOTS):
            c(sql.PARSED_INVOICES_DDL.format(name=self.t[f"pi{slot}"]))
            c(sql.PARSED_EVENTS_DDL.format(name=self.t[f"pe{slot}"]))
        c(f"CREATE TABLE {self.t['valid']} (v String) ENGINE = Memory")
        for slot in range(SLOTS):
            for name in ("xi", "xe", "twe", "sm"):
                c(f"CREATE TABLE {self.t[f'{name}{slot}']} (n UInt64) ENGINE = Memory")
            c(
                f"CREATE TABLE {self.t[f'twi{slot}']} (n UInt64, version UInt64, lag UInt8) "
                "ENGINE = Memory"
            )
        for name in ("di", "de"):
            c(f"CREATE TABLE {self.t[name]} (n UInt64) ENGINE = Memory")
        for name in ("pyi", "pye"):
            c(f"CREATE TABLE {self.t[name]} (n UInt64, ident String) ENGINE = Memory")
        for name in ("si0", "si1", "se0", "se1"):
            self._seen_table(name)

    def _use_slot(self, slot: int) -> None:
        """Steps 2-5 read ``t["pi"]`` / ``t["pe"]``: the chunk's own parse tables, and
        its flagged rows, rows to write and rows the same as recorded (``xi``, ``xe``,
        ``twi``, ``twe``, ``sm``: the chunk's own too, as a chunk is written while the
        next one is checked)."""
        for name in _PER_SLOT:
            self.t[name] = self.t[f"{name}{slot}"]

    def cmd(self, text: str, **params: Any) -> Any:
        settings = _WRITE_SETTINGS if text.lstrip().startswith("INSERT") else None
        return self.client.command(text, parameters={**self.params, **params}, settings=settings)

    def rows(self, text: str, **params: Any) -> list[Any]:
        result = self.client.query(
            text, parameters={**self.params, **params}, column_formats=_BYTES
        )
        return list(result.result_rows)

    def _seen_table(self, name: str) -> None:
        self.cmd(
            f"CREATE TABLE {self.t[name]} (h UInt64, line UInt64) "
            "ENGINE = Join(ANY, LEFT, h) SETTINGS persistent = 0"
        )

    def _drop_stale(self) -> None:
        """Work tables a killed run left behind (their Memory data died with it)."""
        rows = self.rows(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND startsWith(name, '_ingest_')"
        )
        for (name,) in rows:
            if name.split("_")[2] not in _ACTIVE:
                with contextlib.suppress(Exception):
                    self.client.command(f"DROP TABLE IF EXISTS {name}")

    def close(self) -> None:
        """Drops the work tables, emptied first: a dropped table of the Atomic database
        keeps its data (Memory and Join tables: in memory) for 8 minutes."""
        self.write_pool.shutdown(wait=True)  # a write still running reads them
        self.pool.shutdown(wait=True)  # a parse still running writes into them
        self.side_pool.shutdown(wait=True)
        with contextlib.suppress(Exception):
            self.parser.close()
        for other in (self.side, self.writer):
            if other is not None:
                with contextlib.suppress(Exception):
                    other.store.client.close()
        _ACTIVE.discard(self.tag)
        for name in dict.fromkeys(self.t.values()):
            with contextlib.suppress(Exception):
                self.client.command(f"TRUNCATE TABLE IF EXISTS {name}")
                self.client.command(f"DROP TABLE IF EXISTS {name} SYNC")
        with contextlib.suppress(OSError):
            os.rmdir(self.tmpdir)

    # -- one chunk ----------------------------------------------------------------------

    def stage(self, base: int, data: Chunk, lines: int, done: int) -> _Staged:
        """Start writing the chunk to a file and parsing it (step 2's SQL parse) on the
        second connection, in a thread; :meth:`finish` does the rest, in chunk order.
        ``data`` must stay unchanged until ``written`` is set (a plain file's chunk is
        a view of a buffer that the next read reuses)."""
        fd, tmp = tempfile.mkstemp(dir=self.tmpdir, suffix=".ndjson")
        slot, self.slot = self.slot, (self.slot + 1) % SLOTS
        written: Future[None] = Future()
        parse: Future[tuple[str, int]] = self.pool.submit(
            self._write_and_parse,
            fd,
            data,
            lines,
            tmp=tmp,
            slot=slot,
            written=written,
            after=self.slot_writes[slot],
        )
        return _Staged(base=base, tmp=tmp, slot=slot, done=done, written=written, parse=parse)

    def _write_and_parse(
        self,
        fd: int,
        data: Chunk,
        lines: int,
        *,
        tmp: str,
        slot: int,
        written: Future[None],
        after: Future[BatchResult] | None,
    ) -> tuple[str, int]:
        """Beside the main thread's load of the chunk before (the write took ~0.15 s
        of a 48 MB invoice chunk in the main thread, where the load waited for it).
        The parse waits for ``after``, the write of the chunk that had the slot before
        (it reads the slot's tables); its failure is the main thread's to report."""
        try:
            with os.fdopen(fd, "wb") as f:
                only_events = events_only(data, lines)
                f.write(data)
        except BaseException as exc:
            written.set_exception(exc)
            raise
        written.set_result(None)
        if after is not None:
            wait([after])
        return self._parse(tmp, slot, lines, only_events)

    def _parse(self, tmp: str, slot: int, lines: int, only_events: bool) -> tuple[str, int]:
        """Parses the chunk's lines into its slot's tables; returns which kinds of lines
        it holds, "i" (invoice lines, maybe blank ones), "e" (event lines, maybe blank
        ones) or "ie" (as ``validate_line``: a line naming "event_id" is an event), and
        how many rows its tables got (the chunk's non-blank lines).

        A chunk whose lines all open with the event id key is one of events; any other
        is parsed as invoices first, and when every one of its lines became a row of
        invoices it holds nothing else (no scan of the chunk for "event_id" first)."""
        pi, pe = self.t[f"pi{slot}"], self.t[f"pe{slot}"]
        params = {**self.params, "src": tmp}
        for name in (pi, pe):
            self.parser.command(f"TRUNCATE TABLE {name}")

        def parse(kind: str) -> int:
            table, text = (
                (pi, sql.parse_invoices_sql) if kind == "i" else (pe, sql.parse_events_sql)
            )
            self.parser.command(
                text(table, "{src:String}"), parameters=params, settings=_PARSE_SETTINGS
            )
            return int(self.parser.command(f"SELECT count() FROM {table}"))

        if only_events:
            return "e", parse("e")
        invoices = parse("i")
        if invoices == lines:
            return "i", invoices
        events = parse("e")
        return ("i" if invoices or not events else "") + ("e" if events else ""), invoices + events

    def finish(self, staged: _Staged) -> ChunkResult:
        """Steps 2-5 of a staged chunk, once its parse is done."""
        try:
            kinds, parsed = staged.parse.result()
            self._use_slot(staged.slot)
            for name in ("xi", "xe", "pyi", "pye", "di", "de", "twi", "twe", "sm"):
                self.cmd(f"TRUNCATE TABLE {self.t[name]}")
            return self._chunk(staged.base, staged.tmp, kinds, parsed, staged.slot)
        finally:
            os.unlink(staged.tmp)

    def discard(self, staged: _Staged) -> None:
        """A staged chunk that will not be finished (an error before it)."""
        with contextlib.suppress(BaseException):
            staged.parse.result()
        with contextlib.suppress(OSError):
            os.unlink(staged.tmp)

    def _chunk(self, base: int, tmp: str, kinds: str, parsed: int, slot: int) -> ChunkResult:
        """``kinds``: which kinds of lines the chunk may hold ("i", "e", "ie");
        its ``parsed`` lines are parsed into ``t["pi"]`` / ``t["pe"]`` already (its
        ``slot``'s tables). A chunk of one kind is written beside the next chunk's
        checks (:meth:`_write_beside`): its result is complete once :meth:`drain`
        returns."""
        t, out = self.t, ChunkResult(rows=parsed)
        # 2. check in SQL; IDs and codes by the verify core
        new = [r[0] for r in self.rows(sql.ids_to_check_sql(t["pi"], t["pe"], t["valid"]))]
        good = [v for v in new if _valid_id(v)]
        if good:
            self.client.insert(t["valid"], [[v] for v in good], column_names=["v"])
        if "i" in kinds:
            self.cmd(sql.flag_invoices_sql(t["pi"], t["valid"], t["xi"]))
        if "e" in kinds:
            self.cmd(sql.flag_events_sql(t["pe"], t["valid"], t["xe"]))
        # 3. the rows SQL did not accept, through the Python path (the chunk's file
        # is read again for their text only when there are some)
        flagged = f"SELECT n FROM {t['xi']} UNION ALL SELECT n FROM {t['xe']}"
        texts: dict[int, bytes] = {}
        if int(self.cmd(f"SELECT count() FROM ({flagged})")):
            texts = dict(
                self.rows(
                    "SELECT _row_number, line FROM file({src:String}, LineAsString, "
                    f"'line String') WHERE _row_number IN ({flagged})",
                    src=tmp,
                )
            )
        py: dict[str, dict[int, Any]] = {"i": {}, "e": {}}
        for n in sorted(texts):
            result = validate_line(base + n + 1, texts[n] + b"\n")
            if isinstance(result, Invoice):
                py["i"][n] = result
            elif isinstance(result, InvoiceEvent):
                py["e"][n] = result
            else:
                line_no, code, fld, message, text = result
                out.rejects.append((line_no, RowError(code, message, fld), text))
        for kind, attr in (("i", "invoice_key"), ("e", "event_id")):
            if py[kind]:
                rows = [[n, getattr(r, attr)] for n, r in py[kind].items()]
                self.client.insert(t["py" + kind], rows, ["n", "ident"])
        # 4. duplicates within the file
        dup_sql: list[tuple[int, RowError]] = []
        for kind in kinds:
            for n, err in self._duplicates(kind, base):
                if py[kind].pop(n, None) is not None:
                    text = texts[n].decode("utf-8", "replace").rstrip("\r\n")
                    out.rejects.append((base + n + 1, err, text))
                else:
                    dup_sql.append((n, err))
        if dup_sql:
            lines = dict(
                self.rows(
                    "SELECT _row_number, line FROM file({src:String}, LineAsString, "
                    "'line String') WHERE _row_number IN {ns:Array(UInt64)}",
                    src=tmp,
                    ns=[n for n, _ in dup_sql],
                )
            )
            for n, err in dup_sql:
                text = lines[n].decode("utf-8", "replace").rstrip("\r\n")
                out.rejects.append((base + n + 1, err, text))
        out.rejects.sort(key=lambda r: r[0])
        # 5. load: invoices (SQL, then Python), events (SQL, then Python: status last)
        if kinds == "i":
            fold = native_load.fold(self)
            loaded, statements = native_load.check_invoices(self)
            out.loaded.add(loaded)
            self._write_beside(
                out,
                slot,
                lambda command: native_load.write(command, statements),
                invoices=[*py["i"].values(), *fold],
            )
        elif "i" in kinds:
            fold = native_load.fold(self)
            out.loaded.add(native_load.load_invoices(self))
            out.loaded.add(self.loader.load_invoices([*py["i"].values(), *fold]))
        if kinds == "e":
            loaded, where, keys = native_load.check_events(self)
            out.loaded.add(loaded)
            py_keys = [
                ev.invoice_key for ev in py["e"].values() if ev.kind in STATUS_CHANGING_EVENTS
            ]
            out.refold = list(dict.fromkeys([*keys, *py_keys]))
            pe = self.t["pe"]

            def sql_write(command: Callable[..., Any]) -> None:
                if where:
                    native_load.write_events(command, pe, where)

            self._write_beside(out, slot, sql_write, events=list(py["e"].values()))
        elif "e" in kinds:
            loaded, keys = native_load.load_events(self)
            out.loaded.add(loaded)
            py_loaded, py_keys, py_new = self.loader.write_events(list(py["e"].values()))
            out.loaded.add(py_loaded)
            # the Python path's new flows to the change log now, as load_events did
            # SQL's; the statuses with the batch (set_statuses logs what it changes)
            self.loader.store.record_changes(py_new)
            out.refold = list(dict.fromkeys([*keys, *py_keys]))
        return out

    def _write_beside(
        self,
        out: ChunkResult,
        slot: int,
        sql_write: Callable[[Callable[..., Any]], Any],
        *,
        invoices: list[Invoice | PreparedInvoice] | None = None,
        events: list[InvoiceEvent] | None = None,
    ) -> None:
        """Writes a checked chunk of one kind on a connection of its own, in a thread,
        while the main one checks the next chunk (the events' load was bound by the
        main connection, the insert with its views ~60 % of it; the invoices' lookup
        copy insert is half of their main connection's): SQL's rows (``sql_write``,
        given the command to run them with), then the Python path's, as in line. One
        write at a time, in chunk order: the one before this ends first. Reads and
        writes no table of the run but the slot's (``_PER_SLOT``), which the slot's next
        parse waits for. Whatever reads what it writes waits for it (:meth:`drain`): a
        refold, and a chunk with invoices after one of events (they fold over the
        recorded status events); the next chunk's checks read no key of this one (a
        duplicate within the file is rejected before)."""
        self.drain()
        if self.writer is None:
            self.writer = Loader(self.loader.store.sibling())
        writer = self.writer

        def command(text: str, **params: Any) -> Any:
            return writer.store.client.command(
                text, parameters={**self.params, **params}, settings=_WRITE_SETTINGS
            )

        def write() -> BatchResult:
            sql_write(command)
            py_loaded = writer.load_invoices(invoices) if invoices else BatchResult()
            if events:
                loaded, _, py_new = writer.write_events(events)
                py_loaded.add(loaded)
                # the Python path's new flows to the change log now, as SQL's; the
                # statuses with the batch (set_statuses logs what it changes)
                writer.store.record_changes(py_new)
            return py_loaded  # counted by drain, in the main thread

        future = self.slot_writes[slot] = self.write_pool.submit(write)
        self.writing = (future, out, "i" if events is None else "e")

    def drain(self) -> None:
        """Waits for the write of the last chunk (:meth:`_write_beside`); raises its
        error."""
        if self.writing is not None:
            (future, out, _), self.writing = self.writing, None
            out.loaded.add(future.result())

    @property
    def writing_events(self) -> bool:
        """Whether the write in flight (if any) is of events (a chunk with invoices
        reads the status events it records)."""
        return self.writing is not None and self.writing[2] == "e"

    def refold(self, keys: list[str]) -> int:
        """A batch's statuses refolded on the main connection, once the events it
        reads are written; returns the changes."""
        self.drain()
        return len(self.loader.refold(keys))

    def fold_beside(self, keys: list[str]) -> Future[int]:
        """A batch's refold on a third connection in a thread, while the main one loads
        the next chunk of events. Only beside chunks of events only: their load writes
        no invoice version and reads no status, so the refolds, one at a time in chunk
        order, see what they would see in line (a key whose events the next chunks
        add is in a later batch too)."""
        if self.side is None:
            self.side = Loader(self.loader.store.sibling())
        side, after = self.side, self.writing and self.writing[0]

        def fold() -> int:
            if after is not None:  # the last chunk's events written first
                after.result()
            return len(side.refold(keys))

        return self.side_pool.submit(fold)

    def _duplicates(self, kind: str, base: int) -> list[tuple[int, RowError]]:
        """Accepted rows (SQL's and Python's) whose invoice key / event id an earlier
        row of the file has (the window of earlier chunks, or this chunk); remembers
        the first ones for later chunks."""
        t = self.t
        ident = "key" if kind == "i" else "ident"
        code, label, fld = (
            ("duplicate_invoice", "invoice", "number")
            if kind == "i"
            else ("duplicate_event_id", "event_id", "event_id")
        )
        excl, dups, s0, s1 = t["x" + kind], t["d" + kind], t[f"s{kind}0"], t[f"s{kind}1"]
        accepted = (
            f"SELECT n, {ident} AS ident FROM {t['p' + kind]} "
            f"WHERE n NOT IN (SELECT n FROM {excl}) UNION ALL SELECT n, ident FROM {t['py' + kind]}"
        )
        found = self.rows(
            "SELECT ident, arraySort(groupArray(n)) AS ns, "
            f"greatest(joinGet('{s0}', 'line', cityHash64(ident)), "
            f"joinGet('{s1}', 'line', cityHash64(ident))) AS first "
            f"FROM ({accepted}) GROUP BY ident HAVING length(ns) > 1 OR first > 0"
        )
        out: list[tuple[int, RowError]] = []
        for value, ns, seen in found:
            first, later = (seen, ns) if seen else (base + ns[0] + 1, ns[1:])
            message = f"{label} {value} already on line {first}"
            out.extend((n, RowError(code, message, fld)) for n in later)
        if out:
            self.client.insert(dups, [[n] for n, _ in out], ["n"])
            self.client.insert(excl, [[n] for n, _ in out], ["n"])
        fresh = f"SELECT * FROM ({accepted}) WHERE n NOT IN (SELECT n FROM {dups})"
        added = int(self.cmd(f"SELECT count() FROM ({fresh})"))
        newer, older = (s1, s0) if self.current[kind] else (s0, s1)
        self.cmd(
            f"INSERT INTO {newer} SELECT cityHash64(ident), {{base:UInt64}} + n + 1 FROM ({fresh})",
            base=base,
        )
        self.window[kind] += added
        if self.window[kind] >= WINDOW:
            # The older half of the window goes: emptied in place and the next to fill.
            # Not dropped: a dropped table keeps its memory for 8 minutes (the Atomic
            # database's delay), and a long file dropped windows faster than that.
            self.cmd(f"TRUNCATE TABLE {older}")
            self.current[kind] ^= 1
            self.window[kind] = 0
        return out


def ingest_native(
    path: Path,
    loader: Loader,
    *,
    on_chunk: Callable[[ChunkResult, int], Any],
    on_error: Callable[[int, RowError], Any],
) -> None:
    """Ingest one NDJSON file; ``on_chunk(result, bytes_read)`` after each chunk,
    ``on_error(line, error)`` for a broken gzip stream's end.

    Statuses are refolded in batches of REFOLD_KEYS keys as soon as the chunks
    loaded name that many (the last batch beside the next chunk of events, the
    rest of the keys waiting for the next one); every pending key before a chunk
    with invoices (it reads the statuses its invoices fold over, and writes versions
    a refold must not race), before a broken stream's error, at the end, and after
    an error (so every chunk loaded has its statuses folded when this returns, and
    when it raises unless a refold failed, as when each chunk refolded its own).
    Chunks are reported in order; the last one loaded while a batch is pending or
    folding is held back until the next chunk or the end, and a batch's changes
    count in the chunk held when its refold ends. A killed run's rerun refolds every
    status event's key again, recorded or not, so a batch a kill cut off is
    completed."""
    run = NativeRun(loader)
    done = 0
    staged: deque[_Staged] = deque()
    """Chunks written and parsed (or queued for it) ahead of the one loading, in order."""
    pending: dict[str, None] = {}
    """Keys named by status events of the chunks loaded, their refold not started."""
    folding: Future[int] | None = None
    """A batch's refold, beside the next chunk's load."""
    held: tuple[ChunkResult, int] | None = None
    """The last chunk loaded while statuses were pending, not yet reported."""

    def settle() -> None:
        nonlocal folding
        if folding is not None:
            fut, folding = folding, None
            changes = fut.result()
            assert held is not None  # a batch is pending or folding only with one held
            held[0].loaded.status_changes += changes

    def refold(*, beside: bool) -> None:
        nonlocal folding
        settle()  # one refold at a time, in chunk order
        if not pending:
            return
        keys = list(pending)[:REFOLD_KEYS]  # one query a read; the rest in the next
        for key in keys:
            del pending[key]
        if beside:
            folding = run.fold_beside(keys)
            return
        changes = run.refold(keys)
        assert held is not None
        held[0].loaded.status_changes += changes
        refold(beside=False)  # and the rest, REFOLD_KEYS at a time

    def flush() -> None:
        """Every chunk written, every pending status refolded and every chunk loaded
        reported."""
        nonlocal held
        run.drain()
        refold(beside=False)
        if held is not None:
            result, at = held
            held = None
            on_chunk(result, at)

    def finish(last: _Staged) -> None:
        nonlocal held
        failed = last.parse.exception() is not None
        if failed or (
            last.kinds != "e"
            and (last.kinds != "i" or pending or folding is not None or run.writing_events)
        ):
            # invoices read statuses and write versions: after every refold, and
            # after the events written before them (not beside another chunk's
            # invoices: none of their keys is in that one)
            flush()
        result = run.finish(last)  # a failed parse raises here, its file removed
        if held is not None:
            on_chunk(*held)  # a batch folding now counts in the chunk held next
            held = None
        pending.update(dict.fromkeys(result.refold))
        if pending or folding is not None or run.writing is not None:
            held = (result, last.done)  # its rows may be still writing
        else:
            on_chunk(result, last.done)
        while len(pending) >= REFOLD_KEYS:  # the last batch beside the next chunk
            refold(beside=True)

    chunks = read_chunks(path, CHUNK_BYTES)
    try:
        for base, data, lines in chunks:
            if isinstance(data, RowError):
                while staged:  # in line order: the chunks before the error first
                    finish(staged.popleft())
                flush()
                on_error(base, data)
                continue
            done += len(data)
            staged.append(run.stage(base, data, lines, done))  # its slot's chunk is finished
            if len(staged) == SLOTS:
                finish(staged.popleft())  # while the next two are parsed
            staged[-1].written.result()  # before the next read reuses the chunk's buffer
        while staged:
            finish(staged.popleft())
        flush()
    except BaseException:
        # the chunks loaded before the error keep their statuses folded: the batch
        # folding ends, the pending one is refolded on the main connection (a batch
        # whose refold failed is left to the rerun, as a chunk's was)
        with contextlib.suppress(BaseException):
            settle()
        with contextlib.suppress(BaseException):
            run.drain()
        if pending:
            with contextlib.suppress(BaseException):
                run.refold(list(pending))
        raise
    finally:
        for left in staged:
            run.discard(left)  # their writes too: before the chunk's buffer goes
        chunks.close()
        if folding is not None:
            with contextlib.suppress(BaseException):
                folding.result()  # it writes with the run's tables gone otherwise
        run.close()
