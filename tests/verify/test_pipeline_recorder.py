"""The verification recorder: batches off the response path, retries, spools at shutdown."""

from __future__ import annotations

import datetime as dt
import fcntl
from pathlib import Path
from typing import Any

import msgspec

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
