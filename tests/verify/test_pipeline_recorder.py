"""The verification recorder: batches off the response path, retries, spools at shutdown,
spills to the spool past ``max_pending`` while the store is down and replays when it returns."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from verify import EventKind, open_store
from verify._recorder import EventRecorder, verified_event

WHEN = dt.datetime(2026, 3, 30, 10, 0, tzinfo=dt.UTC)


def _events(n: int, key: str = "26427000000316294884") -> list[Any]:
    return [
        verified_event(event_id=f"e{i}", invoice_key=key, when=WHEN, channel="web", result="001")
        for i in range(n)
    ]


async def test_record_never_blocks_and_flush_writes_everything(store_url: str) -> None:
    store = open_store(store_url)
    try:
        rec = EventRecorder(store, interval=60)
        for e in _events(7):
            rec.record(e)
        assert rec.pending == 7
        assert len(rec.pending_for("26427000000316294884")) == 7
        assert await rec.flush()
        assert rec.pending == 0
        kinds = [e.kind for e in store.get_events("26427000000316294884")]
        assert kinds == [EventKind.VERIFIED] * 7
    finally:
        store.close()


async def test_store_down_at_shutdown_spools_and_the_next_start_replays(
    store_url: str, tmp_path: Path
) -> None:
    """The next start is another process: another recorder, another spool file name."""
    spool_dir = tmp_path / "spool"
    store = open_store(store_url)
    try:
        rec = EventRecorder(store, interval=60, spool_dir=spool_dir)
        await rec.start()
        for e in _events(4):
            rec.record(e)
        store._client.command(f"DROP DATABASE {store.database}")  # the store goes away
        await rec.aclose(attempts=1)
        assert rec.spool is not None
        assert len(rec.spool.read_bytes().splitlines()) == 4
        assert [p.name for p in spool_dir.iterdir()] == [rec.spool.name]  # no temporary left
    finally:
        store.close()
    store = open_store(store_url)  # back (database and schema recreated)
    try:
        again = EventRecorder(store, interval=60, spool_dir=spool_dir)
        assert again.spool != rec.spool
        await again.start()
        await again.aclose()
        assert list(spool_dir.iterdir()) == []
        assert len(store.get_events("26427000000316294884")) == 4
    finally:
        store.close()


async def test_a_tick_writes_what_was_buffered_then_and_leaves_later_arrivals(
    store_url: str,
) -> None:
    """Verifications keep arriving while a batch is written; the periodic write must not
    chase them with a run of tiny inserts (each costs chDB milliseconds and a part)."""
    store = open_store(store_url)
    arriving = iter(_events(30)[10:])
    calls: list[int] = []

    async def run(fn: Any, batch: Any) -> None:
        calls.append(len(batch))
        for e in [next(arriving, None) for _ in range(5)]:  # arrive during the insert
            if e is not None:
                rec.record(e)
        fn(batch)

    try:
        rec = EventRecorder(store, run=run, interval=60, max_batch=4)
        for e in _events(10):
            rec.record(e)
        assert await rec.flush(drain=False)
        assert calls == [4, 4, 2]  # the 10 buffered at the tick, in max_batch pieces
        assert rec.pending == 15  # 5 arrived during each of the three inserts
        assert await rec.flush()  # shutdown drains everything, arrivals included
        assert rec.pending == 0
        assert len(store.get_events("26427000000316294884")) == 30
    finally:
        store.close()


async def test_hot_path_verifications_become_events_with_ids_stable_across_retries(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    spool_dir = tmp_path / "spool"
    try:
        rec = EventRecorder(store, interval=60, spool_dir=spool_dir)
        when = WHEN.timestamp()
        rec.verified("26427000000316294884", "web", "001", when)
        rec.verified("26427000000316294884", "api", "006", when + 1)
        rec.verified("04400150011181966722", "api", "001", when)
        pending = rec.pending_for("26427000000316294884")
        assert [(e.channel, e.detail, e.event_time) for e in pending] == [
            ("web", {"result": "001"}, WHEN),
            ("api", {"result": "006"}, WHEN + dt.timedelta(seconds=1)),
        ]
        assert all(e.kind is EventKind.VERIFIED for e in pending)
        ids = [e.event_id for e in pending]
        assert len(set(ids)) == 2
        assert [e.event_id for e in rec.pending_for("26427000000316294884")] == ids  # stable
        store._client.command(f"DROP DATABASE {store.database}")  # down: spooled at close
        await rec.aclose(attempts=1)
        assert rec.spool is not None
        spooled = rec.spool.read_bytes().splitlines()
        assert len(spooled) == 3
        assert all(eid.encode() in b"".join(spooled) for eid in ids)  # same ids as before
    finally:
        store.close()
    store = open_store(store_url)
    try:
        rec = EventRecorder(store, interval=60, spool_dir=spool_dir)
        await rec.start()  # replayed
        await rec.aclose()
        stored = store.get_events("26427000000316294884")
        assert sorted(e.event_id for e in stored) == sorted(ids)
    finally:
        store.close()


async def test_the_store_holds_the_very_events_pending_for_showed(store_url: str) -> None:
    """What the store holds after a flush is what ``pending_for`` showed before (the
    counts of a cache fill add the two), times included: whole milliseconds as the store
    keeps them, truncated, so a verification never moves past midnight."""
    store = open_store(store_url)
    key = "26427000000316294884"
    try:
        rec = EventRecorder(store, interval=60)
        midnight = dt.datetime(2026, 3, 31, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        rec.verified(key, "web", "001", WHEN.timestamp() + 0.0019)
        rec.record(_events(1)[0])
        rec.verified(key, "api", "006", midnight.timestamp() - 0.0001)
        pending = rec.pending_for(key)
        assert pending[0].event_time == WHEN + dt.timedelta(milliseconds=1)
        assert pending[2].event_time == midnight - dt.timedelta(milliseconds=1)
        assert await rec.flush()
        assert store.get_events(key) == sorted(pending, key=lambda e: (e.event_time, e.event_id))
    finally:
        store.close()


async def test_a_spool_another_process_is_replaying_is_left_to_it_and_bad_lines_are_skipped(
    store_url: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    lines = [msgspec.json.encode(e) for e in _events(3)]
    held = spool_dir / "verified-aaaaaaaaaaaa.ndjson"
    held.write_bytes(lines[0] + b"\n")
    torn = spool_dir / "verified-bbbbbbbbbbbb.ndjson"
    torn.write_bytes(lines[1] + b"\n{not json\n\n" + lines[2] + b"\n")
    (spool_dir / "verified-cccccccccccc.ndjson.part").write_bytes(b"{half a li")
    store = open_store(store_url)
    try:
        with held.open("rb") as other:
            fcntl.flock(other, fcntl.LOCK_EX)  # another worker is replaying it
            rec = EventRecorder(store, interval=60, spool_dir=spool_dir)
            await rec.start()
            await rec.aclose()
        assert held.exists()
        assert not torn.exists()
        stored = store.get_events("26427000000316294884")
        assert sorted(e.event_id for e in stored) == ["e1", "e2"]
        rec = EventRecorder(store, interval=60, spool_dir=spool_dir)
        await rec.start()  # the lock is free now: replayed
        await rec.aclose()
        assert not held.exists()
        stored = store.get_events("26427000000316294884")
        assert sorted(e.event_id for e in stored) == ["e0", "e1", "e2"]
    finally:
        store.close()


def test_a_batch_is_built_into_the_same_events_as_one_by_one(tmp_path: Path) -> None:
    rec = EventRecorder(None, interval=60)  # type: ignore[arg-type]  # builds, never writes
    when = WHEN.timestamp()
    rec.verified("26427000000316294884", "web", "001", when)
    rec.verified("04400150011181966722", "api", "006", when + 0.25)
    rec.record(_events(1)[0])  # an event queued whole (ingest's, say)
    rec.verified("26427000000316294884", "api", "001", when + 2)
    batch = list(rec._buffer)
    built = rec.events(batch)
    assert built == [rec.event(item) for item in batch]
    assert [e.detail for e in built] == [
        {"result": "001"}, {"result": "006"}, _events(1)[0].detail, {"result": "001"}
    ]  # fmt: skip
    assert built[1].event_time == WHEN + dt.timedelta(seconds=0.25)


def _spool_lines(spool_dir: Path) -> list[bytes]:
    return [
        line
        for path in sorted(spool_dir.glob("verified-*.ndjson"))
        for line in path.read_bytes().splitlines()
    ]


def _raw_counts(store: Any) -> tuple[int, int]:
    """Rows in invoice_events as written (no read-time dedup) and distinct event ids."""
    rows = store._client.query("SELECT count(), uniqExact(event_id) FROM invoice_events")
    total, distinct = rows.result_rows[0]
    return int(total), int(distinct)


async def test_store_down_past_max_pending_spills_the_oldest_and_replays_when_it_returns(
    store_url: str, tmp_path: Path
) -> None:
    """Memory stays within ``max_pending`` however long the store is away; the spilled
    verifications reach the store once it takes writes again, each exactly once."""
    key = "26427000000316294884"
    spool_dir = tmp_path / "spool"
    store = open_store(store_url)
    try:
        rec = EventRecorder(store, interval=3600, max_batch=10, max_pending=40, spool_dir=spool_dir)
        # no start(): these flushes stand for the loop's ticks (a loop woken meanwhile
        # would try a write of its own)
        store._client.command(f"DROP DATABASE {store.database}")  # the store goes away
        when = WHEN.timestamp()
        total = 0
        for round_ in range(6):  # every verification while it is down; a failed tick each
            for _ in range(35 if round_ else 130):  # the first burst: 3x the limit at once
                rec.verified(key, "web", "001", when + total)
                total += 1
            assert not await rec.flush(drain=False)
            assert rec.pending <= 40
        assert rec.failures == 6
        spilled = _spool_lines(spool_dir)
        assert rec.spilled == len(spilled) > 0
        assert len(spilled) + rec.pending == total == 305
        ids = {msgspec.json.decode(line)["event_id"] for line in spilled}
        ids |= {e.event_id for e in rec.pending_for(key)}
        assert len(ids) == total  # every verification once: on disk or in memory
        assert not list(spool_dir.glob("*.part"))
        newest = rec.event((total, key, when + total - 1, "web", "001")).event_id
        assert newest in {e.event_id for e in rec.pending_for(key)}  # spills take the oldest

        store._client.command(f"CREATE DATABASE {store.database}")  # back
        store.migrate()
        assert await rec.flush(drain=False)  # the next tick: buffer written, spool replayed
        assert rec.pending == 0
        assert list(spool_dir.iterdir()) == []
        assert _raw_counts(store) == (total, total)  # each exactly once, as written
        assert sorted(e.event_id for e in store.get_events(key)) == sorted(ids)
        assert store.verification_counts([key]) == {key: total}
        await rec.aclose()
        assert list(spool_dir.iterdir()) == []
    finally:
        store.close()


async def test_a_spill_left_by_a_failed_start_is_replayed_by_the_first_write(
    store_url: str, tmp_path: Path
) -> None:
    """A spool file the start could not replay (store down) waits on disk and goes in
    with the first write that succeeds, not only at the next start."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    lines = [msgspec.json.encode(e) for e in _events(3)]
    (spool_dir / "verified-aaaaaaaaaaaa.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    store = open_store(store_url)
    try:
        store._client.command(f"DROP DATABASE {store.database}")
        rec = EventRecorder(store, interval=3600, spool_dir=spool_dir)
        await rec.start()
        assert len(list(spool_dir.iterdir())) == 1  # kept: the store refused it
        rec.record(_events(4)[3])
        assert not await rec.flush()
        store._client.command(f"CREATE DATABASE {store.database}")
        store.migrate()
        assert await rec.flush()
        assert list(spool_dir.iterdir()) == []
        stored = store.get_events("26427000000316294884")
        assert sorted(e.event_id for e in stored) == ["e0", "e1", "e2", "e3"]
        await rec.aclose()
    finally:
        store.close()


async def test_without_a_spool_directory_memory_keeps_everything_and_warns_once(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = "26427000000316294884"
    store = open_store(store_url)
    try:
        rec = EventRecorder(store, interval=3600, max_batch=10, max_pending=20)
        store._client.command(f"DROP DATABASE {store.database}")
        when = WHEN.timestamp()
        with caplog.at_level(logging.WARNING, logger="fapiao.recorder"):
            for i in range(100):
                rec.verified(key, "api", "001", when + i)
                if i % 25 == 24:
                    assert not await rec.flush(drain=False)
        assert rec.pending == 100  # nothing dropped
        warned = [r for r in caplog.records if "no spool directory" in r.getMessage()]
        assert len(warned) == 1
        store._client.command(f"CREATE DATABASE {store.database}")
        store.migrate()
        assert await rec.flush()
        assert rec.pending == 0
        assert _raw_counts(store) == (100, 100)
    finally:
        store.close()
