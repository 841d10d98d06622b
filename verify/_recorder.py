"""Recording verifications as flow events, in batches, off the response path.

:meth:`EventRecorder.record` only appends to a buffer; a background task writes
the buffer to the store every ``interval`` seconds (or sooner when it grows)
through ``insert_events``, which is idempotent on ``event_id``, so a retried
batch is never counted twice. A failed write keeps the batch for the next try.

Each tick writes what was buffered *when it started* and no more. (Draining
"until empty" never ends under steady load: the events that arrive during one
insert became the next, tiny, insert, back to back. In chDB an insert has a fixed
cost of several milliseconds and makes a part to merge, so a server taking 2 000
verifications a second spent ~100 µs of CPU a verification on ~50 inserts of ~40
events a second instead of ~5 µs on one insert of 2 000.)
:meth:`aclose` flushes everything; if the store is still down at shutdown the
remainder goes to a spool file of this recorder's own (``verified-<id>.ndjson``) in
the spool directory, written whole or not at all (a temporary file renamed into
place). A starting recorder replays every spool file there, whichever process wrote
it: each file is claimed with an exclusive ``flock`` (workers starting together
replay it once) and removed only after its events are in the store; a replay cut
short is simply done again, which ``event_id`` makes harmless. Nothing recorded is lost.

While the store is down the buffer would grow with every verification. Past
``max_pending`` items the oldest are spilled to a spool file of the same format
(``verified-<id>-<n>.ndjson``, written the same way), leaving the newest
``max_pending // 2`` in memory; once a write succeeds again the spool files are
replayed (the same claimed replay as at start). Without a spool directory the buffer
keeps growing, with one warning. Spilled verifications are not in
:meth:`pending_for` until replayed: a cache fill made between the store's return
and the next tick's replay misses those of an earlier day in its ``prior_count``
(today's count is Redis's).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from verify._errors import FapiaoError
from verify._model import EventKind, InvoiceEvent
from verify._store._base import InvoiceStore

log = logging.getLogger("fapiao.recorder")
_VERIFIED = EventKind.VERIFIED
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def _epoch_ms(when: float) -> int:
    """A hot-path unix time as the store keeps it: whole milliseconds (DateTime64(3)),
    truncated, so a verification never moves past midnight into the next day."""
    return int(when * 1000)


Runner = Callable[..., Awaitable[Any]]
Verified = tuple[int, str, float, str, str]
"""A verification as recorded on the hot path: (sequence, invoice key, unix time,
channel, result code)."""
Item = InvoiceEvent | Verified


class EventRecorder:
    def __init__(
        self,
        store: InvoiceStore,
        *,
        run: Runner | None = None,
        interval: float = 0.5,
        max_batch: int = 20_000,
        max_pending: int = 200_000,
        spool_dir: Path | None = None,
    ) -> None:
        self.store = store
        self._run: Runner = run or asyncio.to_thread
        self.interval = interval
        self.max_batch = max_batch
        self.max_pending = max(1, max_pending)
        self.spool_dir = spool_dir
        self._buffer: list[Item] = []
        self._inflight: list[Item] = []
        self._spilling: list[Item] = []
        self._full_at = min(max_batch, self.max_pending + 1)
        """Buffer size at which ``_full`` runs (the hot path's only extra check)."""
        self._failing = False
        self._spill_lock = asyncio.Lock()
        self._spill_task: asyncio.Task[None] | None = None
        self._spills = 0
        self._replay_due = False
        self._warned_unbounded = False
        self._id_prefix = f"v-{os.urandom(6).hex()}-"
        self._seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.recorded = 0
        self.failures = 0
        self.spilled = 0

    @property
    def pending(self) -> int:
        """Verifications held in memory, not yet in the store or a spool file."""
        return len(self._buffer) + len(self._inflight) + len(self._spilling)

    def record(self, event: InvoiceEvent) -> None:
        """Queue one event; never blocks, never raises."""
        self._buffer.append(event)
        if len(self._buffer) >= self._full_at:
            self._full()

    def verified(self, invoice_key: str, channel: str, result: str, when: float) -> None:
        """Queue one verification (``when``: unix time); the hot path's cheap ``record``."""
        self._seq += 1
        self._buffer.append((self._seq, invoice_key, when, channel, result))
        if len(self._buffer) >= self._full_at:
            self._full()

    def _full(self) -> None:
        """The buffer holds a batch or more: write it now, or past ``max_pending``
        spill the oldest to disk. While writes fail the next try waits for the
        interval (a wake-up per verification would retry the store back to back)."""
        if len(self._buffer) > self.max_pending:
            if self.spool_dir is None:
                self._warn_unbounded()
            elif self._spill_task is None or self._spill_task.done():
                with contextlib.suppress(RuntimeError):  # no running loop: the next flush
                    self._spill_task = asyncio.get_running_loop().create_task(
                        self._spill_excess(), name="recorder-spill"
                    )
        if len(self._buffer) >= self.max_batch and not self._failing:
            self._wake.set()

    def event(self, item: Item) -> InvoiceEvent:
        """The event a buffered item stands for (the same id however often it is built)."""
        if isinstance(item, InvoiceEvent):
            return item
        seq, key, when, channel, result = item
        return InvoiceEvent(
            event_id=f"{self._id_prefix}{seq:012d}",
            invoice_key=key,
            event_time=_EPOCH + _epoch_ms(when) * _MS,
            kind=EventKind.VERIFIED,
            channel=channel,
            detail={"result": result},
        )

    def _insert(self, batch: list[Item]) -> None:
        """Build the events and write them (runs on the store's thread)."""
        self.store.insert_events(self.events(batch))

    def events(self, batch: list[Item]) -> list[InvoiceEvent]:
        """``[self.event(item) for item in batch]``, built in one loop (~1 µs an event
        less on the serving core): the same ids, one ``detail`` map per result code."""
        prefix, epoch, ms, verified = self._id_prefix, _EPOCH, _MS, _VERIFIED
        details: dict[str, dict[str, str]] = {}
        out: list[InvoiceEvent] = []
        for item in batch:
            if isinstance(item, InvoiceEvent):
                out.append(item)
                continue
            seq, key, when, channel, result = item
            detail = details.get(result)
            if detail is None:
                detail = details[result] = {"result": result}
            out.append(
                InvoiceEvent(
                    event_id=f"{prefix}{seq:012d}",
                    invoice_key=key,
                    event_time=epoch + _epoch_ms(when) * ms,
                    kind=verified,
                    channel=channel,
                    detail=detail,
                )
            )
        return out

    def _warn_unbounded(self) -> None:
        if not self._warned_unbounded:
            self._warned_unbounded = True
            log.warning(
                "%d verifications held in memory (the store is not taking them) and no "
                "spool directory to spill them to: memory grows until it returns",
                len(self._buffer),
            )

    def pending_for(self, invoice_key: str) -> list[InvoiceEvent]:
        """Events of one invoice not yet in the store (for exact counts)."""
        return [
            self.event(item)
            for item in (*self._spilling, *self._inflight, *self._buffer)
            if (item.invoice_key if isinstance(item, InvoiceEvent) else item[1]) == invoice_key
        ]

    async def start(self) -> None:
        self._replay_due = not await self._replay_spool()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="recorder")

    async def _loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush(drain=False)

    async def flush(self, *, drain: bool = True) -> bool:
        """Write what is buffered; True when all of it was written, and the spool files
        written meanwhile (spilled, or left by a start) replayed.

        ``drain=True`` (shutdown, tests) also writes what arrives meanwhile, until
        the buffer is empty; ``False`` (the periodic tick) writes only the events
        buffered when it was called and leaves later ones to the next tick. A failed
        write keeps its batch and, past ``max_pending``, spills the oldest to disk."""
        todo = len(self._buffer)
        while self._buffer and (drain or todo > 0):
            batch = self._buffer[: self.max_batch if drain else min(self.max_batch, todo)]
            del self._buffer[: len(batch)]
            self._inflight = batch
            try:
                await self._run(self._insert, batch)
            except (FapiaoError, OSError, RuntimeError) as exc:
                self.failures += 1
                self._failing = True
                self._buffer[:0] = batch
                self._inflight = []
                log.warning("recording %d verifications failed, will retry: %s", len(batch), exc)
                if self.spool_dir is None:
                    if len(self._buffer) > self.max_pending:
                        self._warn_unbounded()
                else:
                    await self._spill_excess()  # after a spill under way, if any
                return False
            finally:
                self._inflight = []
            self.recorded += len(batch)
            todo -= len(batch)
        self._failing = False
        if self._replay_due:
            self._replay_due = False  # a spill during the replay sets it again
            if not await self._replay_spool():
                self._replay_due = True
                return False
        return True

    async def _spill_excess(self) -> None:
        """Move the oldest buffered items to a new spool file, keeping the newest
        ``max_pending // 2`` in memory (a file holds at least half the limit, so the
        files stay few). A spill that cannot be written returns its items to the buffer."""
        if self.spool_dir is None:
            return
        async with self._spill_lock:
            excess = len(self._buffer) - self.max_pending // 2
            if len(self._buffer) <= self.max_pending or excess <= 0:
                return
            items = self._buffer[:excess]
            del self._buffer[:excess]
            self._spilling = items  # still counted and in pending_for while written
            self._spills += 1
            path = self.spool_dir / f"verified-{self._id_prefix[2:-1]}-{self._spills:06d}.ndjson"
            try:
                await asyncio.to_thread(self._write_spool_file, path, items)
            except OSError as exc:
                self._buffer[:0] = items
                log.error("spilling %d verifications to %s failed: %s", len(items), path, exc)
                return
            except BaseException:  # cancelled: keep them (a file written anyway replays once)
                self._buffer[:0] = items
                raise
            finally:
                self._spilling = []
            self.spilled += len(items)
            self._replay_due = True
            log.warning(
                "store not taking verifications: %d spilled to %s (%d still in memory)",
                len(items),
                path,
                self.pending,
            )

    async def aclose(self, attempts: int = 3) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._spill_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._spill_task
        for i in range(attempts):
            if await self.flush():
                return
            await asyncio.sleep(0.2 * (i + 1))
        self._write_spool()

    @property
    def spool(self) -> Path | None:
        """This recorder's spool file (written only when the store is down at shutdown)."""
        if self.spool_dir is None:
            return None
        return self.spool_dir / f"verified-{self._id_prefix[2:-1]}.ndjson"

    def _write_spool(self) -> None:
        if not self._buffer:
            return
        spool = self.spool
        if spool is None:
            log.error("store down at shutdown: %d verifications not recorded", len(self._buffer))
            return
        self._write_spool_file(spool, self._buffer)
        log.warning(
            "store down at shutdown: %d verifications spooled to %s", len(self._buffer), spool
        )
        self._buffer = []

    def _write_spool_file(self, spool: Path, items: list[Item]) -> None:
        """One event a line, fsynced, renamed into place whole (a replay never sees half)."""
        spool.parent.mkdir(parents=True, exist_ok=True)
        part = spool.with_name(spool.name + ".part")
        encoder, step = msgspec.json.Encoder(), max(1, self.max_batch)
        try:
            with part.open("wb") as f:
                for i in range(0, len(items), step):
                    f.write(encoder.encode_lines(self.events(items[i : i + step])))
                f.flush()
                os.fsync(f.fileno())
            part.replace(spool)
        except BaseException:
            with contextlib.suppress(OSError):
                part.unlink()
            raise

    async def _replay_spool(self) -> bool:
        """Replay every spool file in the directory; False when one could not be written
        (it stays, and the next successful write tries again)."""
        if self.spool_dir is None or not self.spool_dir.is_dir():
            return True
        done = True
        for path in sorted(self.spool_dir.glob("verified-*.ndjson")):
            done = await self._replay(path) and done
        return done

    async def _replay(self, path: Path) -> bool:
        """Write one spool file's events to the store, then remove the file; True unless
        the store refused them (a file another process holds is left to it)."""
        f = _claim_spool(path)
        if f is None:
            return True
        with f:  # the lock is held until the file is gone (or left for a later try)
            try:
                count = await self._run(self._insert_spool, f, path)
                os.unlink(path)
            except (FapiaoError, OSError, RuntimeError) as exc:
                log.warning("replaying %s failed, will retry: %s", path, exc)
                return False
        self.recorded += count
        log.info("replayed %d spooled verifications from %s", count, path)
        return True

    def _insert_spool(self, f: BinaryIO, path: Path) -> int:
        """Decode and write a claimed spool file in ``max_batch`` pieces (on the store's
        thread). Unreadable lines (a file damaged on disk) are logged and skipped."""
        decoder = msgspec.json.Decoder(InvoiceEvent)
        count = 0
        events: list[InvoiceEvent] = []
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                events.append(decoder.decode(line))
            except msgspec.DecodeError as exc:
                log.error("spool %s line %d unreadable, skipped: %s", path, n, exc)
                continue
            if len(events) >= self.max_batch:
                self.store.insert_events(events)
                count += len(events)
                events = []
        if events:
            self.store.insert_events(events)
            count += len(events)
        return count


def _claim_spool(path: Path) -> BinaryIO | None:
    """The open, exclusively locked spool file; None when another process holds it or
    has already replayed and removed it."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    if os.fstat(f.fileno()).st_nlink == 0:
        f.close()
        return None
    return f


def verified_event(
    *, event_id: str, invoice_key: str, when: dt.datetime, channel: str, result: str
) -> InvoiceEvent:
    return InvoiceEvent(
        event_id=event_id,
        invoice_key=invoice_key,
        event_time=when,
        kind=EventKind.VERIFIED,
        channel=channel,
        detail={"result": result},
    )
