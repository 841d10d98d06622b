"""The lookup copy's merges wait for the settle during a native load (ingest/_merges.py).

Whether merges of the copy are stopped is seen through ``OPTIMIZE``: with merges
stopped ClickHouse refuses it ("Cancelled merging parts"), with merges on it merges.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest import _merges, _native, generate
from ingest._loader import Loader
from ingest._merges import LookupMergeDeferral
from ingest._run import FileSummary, ingest_paths
from verify import open_store
from verify._store._clickhouse import ClickHouseStore
from verify._store._settle import active_parts, most_parts, partition_parts


@pytest.fixture
def chstore(chdb_root: Path) -> Iterator[ClickHouseStore]:
    s = open_store(f"chdb://{chdb_root}?database=t_merges_{uuid.uuid4().hex[:10]}")
    yield s
    s.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("gen")
    generate(120, 11, out, today=dt.date(2026, 11, 20), workers=0)
    return [out / "invoices.ndjson", out / "events.ndjson"]


def _merges_stopped(store: ClickHouseStore) -> bool:
    try:
        store.client.command(
            f"OPTIMIZE TABLE {store.database}.invoice_lookup",
            settings={"optimize_throw_if_noop": 0},
        )
    except Exception as exc:  # the driver's error for ABORTED
        if "Cancelled merging parts" in str(exc):
            return True
        raise
    return False


def _run(store: ClickHouseStore, paths: list[Path], tmp_path: Path, **kw: Any) -> list[FileSummary]:
    rejects = tmp_path / f"rejects-{uuid.uuid4().hex[:6]}"
    rejects.mkdir()
    return ingest_paths(paths, Loader(store), rejects_dir=rejects, progress=False, **kw)


def test_native_load_defers_the_copys_merges_and_resumes_them(
    chstore, files, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(_native, "CHUNK_BYTES", 24 * 1024)  # several chunks a file
    seen: list[tuple[bool, int]] = []

    def on_batch(_: object) -> None:
        seen.append((_merges_stopped(chstore), active_parts(chstore.client, chstore.database)))

    summaries = _run(chstore, files, tmp_path, native=True, on_batch=on_batch)
    assert all(s.rejected == 0 for s in summaries)
    assert len(seen) >= 6
    assert all(stopped for stopped, _ in seen)  # stopped after every chunk of both files
    parts = [n for _, n in seen]
    assert parts == sorted(parts)
    assert parts[-1] >= 6
    assert not _merges_stopped(chstore)  # on again once the run ends
    settled = chstore.settle_lookup(max_parts=1)
    assert partition_parts(chstore.client, chstore.database) == {"0": 1, "1": 1}
    assert settled.parts_after == 2
    keys = [r[0] for r in chstore.client.query("SELECT invoice_key FROM invoices").result_rows]
    for key in keys[::10]:
        assert chstore.get_invoice_with_events(key) == chstore.get_invoice_pair(key)


def test_past_the_cap_merges_run_again_for_the_rest_of_the_run(
    chstore, files, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(_native, "CHUNK_BYTES", 24 * 1024)
    monkeypatch.setattr(_merges, "MAX_PARTS", 3)
    seen: list[tuple[bool, int, int]] = []

    def on_batch(_: object) -> None:
        client, db = chstore.client, chstore.database
        seen.append((_merges_stopped(chstore), active_parts(client, db), most_parts(client, db)))

    _run(chstore, files, tmp_path, native=True, on_batch=on_batch)
    stopped = [s for s, _, _ in seen]
    first_on = stopped.index(False)
    assert all(stopped[:first_on])
    assert not any(stopped[first_on:])
    assert seen[first_on][2] > 3 or seen[first_on - 1][2] <= 3  # the cap's check
    # the cap counts a partition's parts (each chunk writes one into each of the
    # two): merges stayed stopped past 3 parts in all
    assert any(total > 3 for stopped, total, _ in seen[:first_on])
    assert not _merges_stopped(chstore)


def test_merges_run_again_when_a_load_fails(chstore, files, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_native, "CHUNK_BYTES", 24 * 1024)

    def failing(_: object) -> None:
        assert _merges_stopped(chstore)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        _run(chstore, files[:1], tmp_path, native=True, on_batch=failing)
    assert not _merges_stopped(chstore)


def test_the_python_path_and_a_server_leave_merges_alone(chstore, files, tmp_path) -> None:
    states: list[bool] = []
    _run(chstore, files, tmp_path, native=False, on_batch=lambda _: states.append(
        _merges_stopped(chstore)))  # fmt: skip
    assert states
    assert not any(states)

    class Server:
        url = "http://localhost:8123"

    deferral = LookupMergeDeferral(Server())  # a server: nothing is ever sent
    deferral.pause()
    deferral.check()
    deferral.resume()
    assert not deferral.enabled
    assert not deferral.paused
