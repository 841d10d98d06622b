"""The native path writes a chunk of events only while it checks the next chunk
(ingest/_native.py, ``NativeRun._write_beside``): the same rows, flows and statuses
as the Python path however slow the write, a refold and a chunk with invoices wait
for it, and a kill while a write is in flight is completed by the rerun."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time

import pytest

from ingest import _native, _native_load
from ingest._loader import Loader
from tests.ingest import test_ingest_kill, test_ingest_native
from tests.ingest.samples import digital_invoice, event, key_of, ndjson
from tests.ingest.test_ingest_kill import _converged, _ingest_and_report, _run
from tests.ingest.test_ingest_native import (
    _SPREAD_STATUSES,
    _counts,
    _ingest,
    _spread_status_events,
    _state,
)

files = test_ingest_kill.files  # the fixtures
stores = test_ingest_native.stores
generated = test_ingest_native.generated


def _slow_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Each write of a chunk's events starts late: once the next chunk's checks have
    begun, or 0.2 s on (so whatever does not wait for it runs first); returns the log
    of ``("check" | "write" | "written", thread)`` in order."""
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    checks = [0]
    write_events, check_events = _native_load.write_events, _native_load.check_events
    write, check_invoices = _native_load.write, _native_load.check_invoices

    def note(what: str) -> None:
        with lock:
            log.append((what, threading.current_thread().name))

    def late(writer):
        def slow_write(*args):
            note("write")
            seen, deadline = checks[0], time.monotonic() + 0.2
            while checks[0] == seen and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(0.02)
            writer(*args)
            note("written")

        return slow_write

    def logged(check):
        def logged_check(run):
            note("check")
            checks[0] += 1
            return check(run)

        return logged_check

    monkeypatch.setattr(_native_load, "write_events", late(write_events))
    monkeypatch.setattr(_native_load, "write", late(write))
    monkeypatch.setattr(_native_load, "check_events", logged(check_events))
    monkeypatch.setattr(_native_load, "check_invoices", logged(check_invoices))
    return log


def _overlapped(log: list[tuple[str, str]]) -> int:
    """Checks logged while a write was in flight."""
    in_flight, overlapped = False, 0
    for what, _ in log:
        if what == "write":
            in_flight = True
        elif what == "written":
            in_flight = False
        elif in_flight:
            overlapped += 1
    return overlapped


@pytest.mark.parametrize("batch", [20_000, 1], ids=["refold-at-end", "refold-a-key"])
def test_events_are_written_beside_the_next_chunks_checks(tmp_path, stores, monkeypatch, batch):
    """A chunk of events is written on a thread of its own while the next one is
    checked; the refolds (at the end, or one a key beside the next chunks) see its
    events, the slot's next parse waits for it: flows, statuses and counts are the
    Python path's, and a reload writes nothing."""
    inv_path, ev_path, keys = _spread_status_events(tmp_path)
    monkeypatch.setattr(_native, "CHUNK_BYTES", 1024)  # ~4 events a chunk
    monkeypatch.setattr(_native, "REFOLD_KEYS", batch)
    log = _slow_writes(monkeypatch)
    summaries = {}
    for native in (False, True):
        _ingest(stores[native], native, inv_path)
        summaries[native] = _ingest(stores[native], native, ev_path)[0]
    writes = [name for what, name in log if what == "write"]
    assert len(writes) >= 8
    assert all(name.startswith("fapiao-write") for name in writes)
    # a chunk's checks ran while the write before it was in flight
    overlapped = _overlapped(log)
    # (a chunk that names more keys than a batch holds waits for its write: the
    # batch after the one beside waits for that one, which reads the chunk's events)
    assert overlapped >= (8 if batch > 1 else 1)
    assert _counts(summaries[True])[:6] == _counts(summaries[False])[:6]
    native_state = _state(stores[True])
    assert native_state == _state(stores[False])
    assert [native_state["invoices"][k].status.value for k in keys] == _SPREAD_STATUSES
    again = _ingest(stores[True], True, ev_path)[0]
    assert (again.loaded.events_written, again.loaded.status_changes) == (0, 0)


def test_invoices_are_written_beside_the_next_chunks_checks(
    tmp_path, generated, stores, monkeypatch
):
    """A chunk of invoices only is written on a thread of its own while the next one
    is checked, however slow the write: the invoices, flows, statuses and counts are
    the Python path's, a reload writes nothing, and a changed record is a new version."""
    inv_path, ev_path = tmp_path / "invoices.ndjson", tmp_path / "events.ndjson"
    inv_path.write_bytes(generated[0])
    ev_path.write_bytes(generated[1])
    monkeypatch.setattr(_native, "CHUNK_BYTES", 16 * 1024)  # ~16 invoices a chunk
    log = _slow_writes(monkeypatch)
    summaries = {native: _ingest(stores[native], native, inv_path, ev_path) for native in (0, 1)}
    writes = [name for what, name in log if what == "write"]
    assert len(writes) >= 10
    assert all(name.startswith("fapiao-write") for name in writes)
    assert _overlapped(log) >= 8
    for got, want in zip(summaries[1], summaries[0], strict=True):
        assert _counts(got)[:6] == _counts(want)[:6]
    assert _state(stores[True]) == _state(stores[False])
    again = _ingest(stores[True], True, inv_path)[0]
    assert (again.loaded.invoices_written, again.loaded.invoices_unchanged) == (0, 200)
    lines = inv_path.read_bytes().splitlines(keepends=True)
    lines[150] = lines[150].replace(b'"remarks":"', b'"remarks":"changed-')
    inv_path.write_bytes(b"".join(lines))
    for native in (False, True):
        changed = _ingest(stores[native], native, inv_path)[0]
        assert (changed.loaded.invoices_written, changed.loaded.invoices_unchanged) == (1, 199)
    assert _state(stores[True]) == _state(stores[False])


def test_a_chunk_of_invoices_waits_for_the_events_written_before_it(tmp_path, stores, monkeypatch):
    """A mixed file, events then invoices whose keys they flag: the invoices fold
    over the events written just before them, however slow that write."""
    monkeypatch.setattr(_native, "CHUNK_BYTES", 1024)
    first = [digital_invoice(n) for n in range(1, 9)]
    keys = [key_of(r) for r in first]
    (tmp_path / "a").mkdir()
    first_path = tmp_path / "a" / "first.ndjson"
    first_path.write_bytes(ndjson(first))
    rows = [event(f"f{i}", k, "flagged_abnormal") for i, k in enumerate(keys)]
    rows += [digital_invoice(n, remarks="changed") for n in range(1, 9)]
    mixed = tmp_path / "mixed.ndjson"
    mixed.write_bytes(ndjson(rows))
    _slow_writes(monkeypatch)
    got = {}
    for native in (False, True):
        _ingest(stores[native], native, first_path)
        got[native] = _ingest(stores[native], native, mixed)[0]
    assert _counts(got[True])[:6] == _counts(got[False])[:6]
    state = _state(stores[True])
    assert state == _state(stores[False])
    assert [state["invoices"][k].status.value for k in keys] == ["abnormal"] * 8
    assert all(state["invoices"][k].remarks == "changed" for k in keys)


def test_a_failed_write_stops_the_run_and_leaves_no_work_tables(tmp_path, stores, monkeypatch):
    """A write that fails in its thread surfaces in the run (at the next chunk's
    write, a refold or the end): no chunk after it is reported, the run's tables go."""
    inv_path, ev_path, _ = _spread_status_events(tmp_path)
    monkeypatch.setattr(_native, "CHUNK_BYTES", 1024)
    store = stores[True]
    _ingest(store, True, inv_path)
    write_events, calls = _native_load.write_events, []

    def failing(command, events, rows):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("write failed")
        write_events(command, events, rows)

    monkeypatch.setattr(_native_load, "write_events", failing)
    reported: list[int] = []
    with pytest.raises(RuntimeError, match="write failed"):
        _native.ingest_native(
            ev_path, Loader(store), on_chunk=lambda r, done: reported.append(done), on_error=print
        )
    assert len(reported) <= 2  # the chunks before the failed one, at most
    left = store.client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND startsWith(name, '_ingest_')"
    ).result_rows
    assert left == []


_KILL_WRITING = """
import os, signal, sys, time
from ingest import _native, _native_load

data_dir, chunk, kind, limit, *paths = sys.argv[1:]
os.environ["FAPIAO_DATA_DIR"] = data_dir
from api.cli import main as fapiao

_native.CHUNK_BYTES = int(chunk)
name = "write_events" if kind == "events" else "write"
write, checks, writes = getattr(_native_load, name), [0], [0]

def counted(check):
    def check_and_count(run):
        checks[0] += 1
        return check(run)
    return check_and_count

def write_or_die(command, *args):
    writes[0] += 1
    if writes[0] < int(limit):
        return write(command, *args)
    seen = checks[0]
    # events: in (and their views), not their keys in the change log; invoices: the
    # lookup copy's rows in, not those of invoices
    skip = "invoice_changes" if kind == "events" else "INSERT INTO invoices "
    write(lambda text, **params: None if skip in text else command(text, **params), *args)
    deadline = time.monotonic() + 10
    while checks[0] == seen and time.monotonic() < deadline:  # the next chunk checked
        time.sleep(0.001)
    os.kill(os.getpid(), signal.SIGKILL)

_native_load.check_events = counted(_native_load.check_events)
_native_load.check_invoices = counted(_native_load.check_invoices)
setattr(_native_load, name, write_or_die)
sys.exit(fapiao(["ingest", "--no-progress", *paths]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["invoices", "events"])
def test_killed_while_a_chunk_writes_rerun_gives_exact_counts(
    tmp_path, files, monkeypatch, kind
) -> None:
    """SIGKILL in the third chunk's write of a kind, half of it in (events: in, their
    change log not; invoices: in the lookup copy, not in ``invoices``), the next chunk
    checked beside it: the rerun writes what is missing, folds every status and
    converges (a third run writes nothing)."""
    monkeypatch.setenv("FAPIAO_INGEST_NATIVE", "on")  # small files too, in every child
    inv, ev, expected = files
    data_dir = tmp_path / "var"
    argv = [sys.executable, "-c", _KILL_WRITING, str(data_dir), "4096", kind, "3"]
    killed = _run([*argv, str(inv), str(ev)])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    summary, final = _ingest_and_report(data_dir, inv, ev)
    if kind == "events":
        assert "invoices 0 written 310 unchanged" in summary
        written = re.search(r"events (\d+) written (\d+) known, 50 status changes", summary)
    else:
        assert "events 360 written 0 known" in summary
        written = re.search(r"invoices (\d+) written (\d+) unchanged", summary)
    assert written is not None, summary
    total = 360 if kind == "events" else 310
    assert 0 < int(written[1]) < total
    assert int(written[1]) + int(written[2]) == total
    _converged(data_dir, inv, ev, final, expected)
