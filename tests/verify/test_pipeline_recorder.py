"""The verification recorder: batches off the response path, retries, spools at shutdown."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

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
    spool = tmp_path / "spool" / "verified.ndjson"
    store = open_store(store_url)
    try:
        rec = EventRecorder(store, interval=60, spool=spool)
        await rec.start()
        for e in _events(4):
            rec.record(e)
        store._client.command(f"DROP DATABASE {store.database}")  # the store goes away
        await rec.aclose(attempts=1)
        assert len(spool.read_bytes().splitlines()) == 4
    finally:
        store.close()
    store = open_store(store_url)  # back (database and schema recreated)
    try:
        rec = EventRecorder(store, interval=60, spool=spool)
        await rec.start()
        await rec.aclose()
        assert not spool.exists()
        assert len(store.get_events("26427000000316294884")) == 4
    finally:
        store.close()
