"""The native NDJSON path (SQL checks and loads) gives what the Python path gives.

The same files (generated data, every reject reason, and rows SQL must leave to
Python: padded text, numbers as JSON numbers, duplicate keys, escapes, CRLF...)
go through both paths into two databases: accepted keys, invoices, flows,
statuses, rejects (line, code, field) and counts must be identical.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ingest import _native, _native_load, generate
from ingest._loader import Loader
from ingest._native_chunks import read_chunks
from ingest._run import FileSummary, ingest_paths
from tests.ingest.samples import (
    BUYER,
    SELLER,
    digital_invoice,
    event,
    key_of,
    ndjson,
    paper_invoice,
)
from tests.ingest.test_ingest_rejects import BAD_EVENTS, BAD_INVOICES
from verify import Status, open_store
from verify._store._clickhouse import ClickHouseStore
from verify._store._rows import INVOICE_COLUMNS, encode_doc, invoice_columns


@pytest.fixture
def stores(chdb_root: Path) -> Iterator[dict[bool, ClickHouseStore]]:
    """Two fresh databases: True for the native path, False for the Python path."""
    tag = uuid.uuid4().hex[:10]
    opened = {
        native: open_store(f"chdb://{chdb_root}?database=t_native_{tag}_{int(native)}")
        for native in (True, False)
    }
    yield opened
    for s in opened.values():
        s.close()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    out = tmp_path_factory.mktemp("gen")
    generate(200, 7, out, today=dt.date(2026, 11, 20), workers=0)
    return (out / "invoices.ndjson").read_bytes(), (out / "events.ndjson").read_bytes()


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


MORE_BAD_INVOICES = [
    (digital_invoice(901, invoice_key="26442000000000000999"), "invoice_key_mismatch",
     "invoice_key"),
    (digital_invoice(902, check_code="12ab5"), "check_code_format", "check_code"),
    (digital_invoice(903, risk_level="09"), "unknown_risk_level", "risk_level"),
    (digital_invoice(904, remarks="x" * 2001), "field_too_long", "remarks"),
    (digital_invoice(905, items=[{"name": "a", "amount": "89.17", "tax_rate": "1.13",
                                  "tax": "11.59"}]), "tax_rate", "items[0].tax_rate"),
    (digital_invoice(906, items=[{"name": "", "amount": "89.17", "tax_rate": "0.13",
                                  "tax": "11.59"}]), "field_missing", "items[0].name"),
    (digital_invoice(907, items=[{"name": "a", "amount": "89.17", "tax_rate": "0.13",
                                  "tax": "11.58"}]), "items_tax_mismatch", "items"),
    (digital_invoice(908, buyer="nobody"), "field_type", "buyer"),
    (digital_invoice(909, remarks={"a": "b"}), "field_type", "remarks"),
    (digital_invoice(910, number="26442000000000000910", kind="04"), "code_format", "code"),
]  # fmt: skip
MORE_BAD_EVENTS = [
    (event("x" * 129, "26442000000000000001"), "event_id_too_long", "event_id"),
    (event("e10", "26442000000000000001", event_time="2026-02-30T10:00:00+08:00"),
     "event_time_format", "event_time"),
    (event("e11", "26442000000000000001", detail={"a": {"b": "c"}}), "field_type", "detail.a"),
    (event("e12", "26442000000000000001", detail="x"), "field_type", "detail"),
    (event("e13", "26442000000000000001", "red_issued",
           detail={"scope": "partial", "amount": "1.234"}), "amount_format", "detail.amount"),
    (event("e14", "26442000000000000001", "red_issued", detail={"scope": "full "}),
     "red_scope", "detail.scope"),
    (event("e15", "26442000000000000001", channel=True), "field_type", "channel"),
    (event("e16", "26442000000000000001", channel=5.0), "field_type", "channel"),
]  # fmt: skip


def _odd_invoices() -> list[bytes]:
    """Valid for Python, all outside what SQL accepts (so Python must take them)."""
    base = 700
    inv = digital_invoice
    records = [
        inv(base + 1, remarks="  padded  "),
        inv(base + 2, amount=89.17, tax="11.59", total="100.76"),
        inv(base + 3, amount="89.1", tax="11.66", total="100.76",
            items=[]),  # quantized on the way in
        inv(base + 4, code=None),
        inv(base + 5, remarks="全角\u3000"),
        inv(base + 18, seller={**SELLER, "name": "\u3000前导"}),
        inv(base + 6, status=""),
        inv(base + 7, extra_field="ignored"),
        inv(base + 8, seller={"tax_id": "91350100m000100y43", "name": "小写"}),
        paper_invoice(base + 9, status="voided"),
        inv(base + 15, issue_date="2026/03/30"),
        inv(base + 10, items=[{"name": "x", "amount": "89.17", "tax_rate": "0.13",
                               "tax": "11.59", "quantity": 2}]),
    ]  # fmt: skip
    lines = [_line(r) for r in records]
    lines.append(_line(inv(base + 11)).replace(b'"remarks": ""', b'"remarks": "a\\u00e9"'))
    lines.append(_line(inv(base + 12)).replace(b'"remarks": ""', b'"remarks": "x", "remarks": ""'))
    lines.append(_line(inv(base + 13)) + b"\r")  # CRLF
    lines.append(  # duplicate keys: the last one counts (a total_mismatch)
        _line(inv(base + 16)).replace(b'"total": "100.76"', b'"total": "100.76", "total": "9.99"')
    )
    lines.append(_line(inv(base + 17, buyer="x", remarks={"a": "b"})))
    # what SQL checks by counting keys and values in the text (ingest/_native_sql.py)
    lines.append(  # a repeated key with a blank before its colon: the last one counts
        _line(inv(base + 19)).replace(b'"total": "100.76"', b'"total": "100.76", "total" : "9"')
    )
    lines.append(  # a repeated party key (Python takes the last)
        _line(inv(base + 20)).replace(b'"name": "\xe5', b'"name": "x", "name": "\xe5', 1)
    )
    lines.append(  # unknown keys in an item, at the top (empty name), a tab before a colon
        _line(inv(base + 21)).replace(b'"spec": ""', b'"spec": "", "color": "red"')
    )
    lines.append(_line(inv(base + 22)).replace(b'"remarks": ""', b'"remarks": "", "": ""'))
    lines.append(_line(inv(base + 23)).replace(b'"remarks": ""', b'"remarks"\t: ""'))
    lines.append(  # colons and spaced colons inside texts; compact separators
        json.dumps(
            inv(base + 24, remarks=': a": b', machine_no="x:"),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )
    lines.append(_line(inv(base + 29, remarks=": a: b", machine_no="x: ")))
    lines.append(_line(inv(base + 30, remarks="a: b", machine_no="x:")))  # SQL takes it
    lines.append(
        _line(
            inv(
                base + 25,
                items=[
                    {
                        "name": "x",
                        "spec": "s\u00a0",
                        "amount": "89.17",
                        "tax_rate": "0.13",
                        "tax": "11.59",
                    }
                ],
            )
        )
    )
    lines.append(_line(inv(base + 26, buyer={**BUYER, "bank": "\u3000银行"})))
    lines.append(_line(inv(base + 27, machine_no=["1"])))
    lines.append(
        _line(
            inv(
                base + 28,
                items=[{"name": ["x"], "amount": "89.17", "tax_rate": "0.13", "tax": "11.59"}],
            )
        )
    )
    lines.append(b"   ")  # blank: not a row
    lines.append(_line(inv(base + 14, invoice_key="26442000000000000714")))
    return lines


def _odd_events(keys: list[str]) -> list[bytes]:
    k1, k2 = keys[0], keys[1]
    records = [
        event("odd-1", k1, "delivered", event_time="2026-03-30T10:15:00"),  # China time
        event("odd-2", k1, "booked", event_time="2026-03-30T02:15:00.123456Z"),
        event("odd-3", k1, "delivered", channel=" email "),
        event("odd-11", k1, "delivered", channel="\tlead"),
        event("odd-4", k2, "delivered", detail={"n": 1}),
        event("odd-5", "", "delivered", code=k2[:12], number=k2[12:]) if len(k2) == 20 else
        event("odd-5", k2, "delivered"),
        event("odd-6", k2, "flagged_abnormal"),
        event("odd-7", k2, "abnormal_cleared", event_time="2026-03-31T10:15:00+08:00"),
        event("odd-8", k1, "red_issued", detail={"scope": "partial", "amount": "-1.00"}),
        event("odd-1", k2, "delivered"),  # duplicate of a Python-accepted row
        event("odd-9", k2, "delivered", event_time="2026-03-30T10:15:00.5-05:30"),
        event("odd-12", k2, "delivered", detail={"a": True, "b": 1.50}),  # Python: "True"
        event("odd-13", k1, "delivered", channel="email\u3000"),  # stripped: not at an edge
        event("odd-14\u00a0", k2, "delivered"),
        event("odd-15", "1" * 19, "delivered"),  # neither 18 nor 20 digits
        event("odd-16", "9" * 18, "delivered"),  # its invoice need not be in the store
        event("odd-17", "１" * 18, "delivered"),  # not ASCII digits
    ]  # fmt: skip
    dup_detail = _line(event("odd-10", k2, detail={"a": "1"})).replace(
        b'"a": "1"', b'"a": "1", "a": "2"'
    )
    return [*map(_line, records), dup_detail]


def _ingest(store: ClickHouseStore, native: bool, *paths: Path) -> list[FileSummary]:
    out = paths[0].parent / f"rejects-{native}-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    return ingest_paths(list(paths), Loader(store), rejects_dir=out, progress=False, native=native)


def _rejects(summary: FileSummary) -> list[tuple[int, str, str | None]]:
    if not summary.rejects_path:
        return []
    rows = [json.loads(x) for x in Path(summary.rejects_path).read_text().splitlines()]
    return [(r["line"], r["code"], r["field"]) for r in rows]


def _state(store: ClickHouseStore) -> dict[str, Any]:
    keys = sorted(r[0] for r in store.client.query("SELECT DISTINCT invoice_key FROM invoices")
                  .result_rows)  # fmt: skip
    invoices = store.get_invoices(keys)
    event_keys = sorted(
        r[0] for r in store.client.query("SELECT DISTINCT invoice_key FROM invoice_events")
        .result_rows
    )  # fmt: skip
    # the one-read lookup (invoice_lookup, kept by views) answers what the two tables do
    for key in keys[::4]:
        assert store.get_invoice_with_events(key) == store.get_invoice_pair(key), key
    return {
        "invoices": {k: msgspec.structs.replace(v, version=0) for k, v in invoices.items()},
        "events": {k: store.get_events(k) for k in event_keys},
    }


def _counts(s: FileSummary) -> tuple[int, ...]:
    r = s.loaded
    return (s.rows, s.rejected, r.invoices_written, r.invoices_unchanged, r.events_written,
            r.events_known, r.status_changes)  # fmt: skip


def _files(tmp_path: Path, generated: tuple[bytes, bytes], gz: bool = False) -> list[Path]:
    inv, ev = generated
    first = [json.loads(x) for x in inv.splitlines()[:2]]
    keys = [r["number"] if len(r["number"]) == 20 else r["code"] + r["number"] for r in first]
    bad_inv = [_line(r) for r, _, _ in BAD_INVOICES + MORE_BAD_INVOICES]
    bad_inv += [b"{broken", b"[1]", b'{"kind": "\xff"}', b'{"kind": "32"} trailing']
    inv_lines = inv.splitlines()
    # bad and odd rows spread through the file, a duplicate invoice across chunks
    mixed = inv_lines[:50] + bad_inv + inv_lines[50:200] + _odd_invoices() + inv_lines[200:]
    mixed.append(inv_lines[10])
    ev_lines = ev.splitlines()
    bad_ev = [_line(r) for r, _, _ in BAD_EVENTS + MORE_BAD_EVENTS]
    ev_mixed = ev_lines[:100] + bad_ev + _odd_events(keys) + ev_lines[100:] + [ev_lines[5]]
    paths = []
    for name, lines in (("invoices.ndjson", mixed), ("events.ndjson", ev_mixed)):
        data = b"\n".join(lines) + b"\n"
        path = tmp_path / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(path)
    return paths


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_native_path_gives_the_python_result(tmp_path, generated, stores, monkeypatch, gz):
    monkeypatch.setattr(_native, "CHUNK_BYTES", 64 * 1024)  # many chunks
    paths = _files(tmp_path, generated, gz=gz)
    got = {native: _ingest(stores[native], native, *paths) for native in (True, False)}
    for native_s, python_s in zip(got[True], got[False], strict=True):
        assert _rejects(native_s) == _rejects(python_s)
        assert _counts(native_s) == _counts(python_s)
    assert _rejects(got[True][0])  # the bad rows were there
    assert len(_rejects(got[True][0])) >= len(BAD_INVOICES) + 4
    native_state, python_state = _state(stores[True]), _state(stores[False])
    assert native_state["invoices"].keys() == python_state["invoices"].keys()
    assert native_state == python_state
    # the generated lines did go the native way (the odd ones the Python way)
    docs = stores[True].client.query(
        "SELECT countIf(startsWith(payload, '{')) FROM invoice_lookup WHERE r = 0"
    )
    assert docs.result_rows[0][0] >= 190
    # each doc is stored once: in the lookup copy (migration 7), '' in invoices
    for store in stores.values():
        stored = store.client.query("SELECT countIf(doc != '') FROM invoices")
        assert stored.result_rows[0][0] == 0


def test_native_reingest_writes_nothing(tmp_path, generated, stores, monkeypatch):
    monkeypatch.setattr(_native, "CHUNK_BYTES", 256 * 1024)
    store = stores[True]
    paths = _files(tmp_path, generated)
    _ingest(store, True, *paths)
    versions = store.count("invoice_versions")
    before = _state(store)
    again = _ingest(store, True, *paths)
    assert sum(s.loaded.invoices_written + s.loaded.events_written for s in again) == 0
    assert sum(s.loaded.status_changes for s in again) == 0
    assert store.count("invoice_versions") == versions
    assert _state(store) == before


def test_reload_by_the_other_path_writes_nothing(tmp_path, generated, stores, monkeypatch):
    """The paths store the same record differently (JSON and cityHash64, msgpack and
    blake2b): a file loaded by one and then by the other is compared record by record
    and writes no new version (it wrote one equal version per invoice before)."""
    monkeypatch.setattr(_native, "CHUNK_BYTES", 256 * 1024)
    paths = _files(tmp_path, generated)
    for first in (True, False):
        store = stores[first]
        _ingest(store, first, *paths)
        versions = store.count("invoice_versions")
        before = _state(store)
        again = _ingest(store, not first, *paths)
        assert sum(s.loaded.invoices_written + s.loaded.events_written for s in again) == 0
        assert sum(s.loaded.status_changes for s in again) == 0
        assert sum(s.loaded.invoices_unchanged for s in again) >= 200
        assert store.count("invoice_versions") == versions
        assert _state(store) == before


def test_truncated_gzip_native_matches_python(tmp_path, stores, monkeypatch):
    monkeypatch.setattr(_native, "CHUNK_BYTES", 16 * 1024)
    records = [digital_invoice(n, remarks="x" * 200) for n in range(1000, 1300)]
    whole = gzip.compress(ndjson(records))
    path = tmp_path / "inv.ndjson.gz"
    path.write_bytes(whole[: len(whole) // 2])
    got = {native: _ingest(stores[native], native, path)[0] for native in (True, False)}
    assert _rejects(got[True]) == _rejects(got[False])
    assert [c for _, c, _ in _rejects(got[True])] == ["truncated_gzip"]
    assert _counts(got[True]) == _counts(got[False])
    assert _state(stores[True]) == _state(stores[False])


def test_corrupt_gzip_native_matches_python(tmp_path, stores, monkeypatch):
    """A stream corrupt in the middle (not cut short) breaks at the same line both ways:
    zlib drops the output of the read that fails, so where it breaks depends on how
    the stream is read (here the native path's large reads lost 31 lines more)."""
    monkeypatch.setattr(_native, "CHUNK_BYTES", 64 * 1024)
    rnd = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    records = [
        digital_invoice(n, remarks="".join(rnd.choice(letters) for _ in range(300)))
        for n in range(1000, 3000)
    ]
    spoilt = bytearray(gzip.compress(ndjson(records), mtime=0))
    at = int(len(spoilt) * 0.49)
    spoilt[at : at + 8] = b"\xff" * 8
    path = tmp_path / "inv.ndjson.gz"
    path.write_bytes(bytes(spoilt))
    got = {native: _ingest(stores[native], native, path)[0] for native in (True, False)}
    assert _rejects(got[True]) == _rejects(got[False])
    assert _rejects(got[True])[-1][1] == "corrupt_gzip"
    assert _counts(got[True]) == _counts(got[False])
    assert 500 < got[True].loaded.invoices_written < 1900
    assert _state(stores[True]) == _state(stores[False])


def test_status_events_fold_over_natively_loaded_invoices(tmp_path, stores):
    inv = [paper_invoice(n) for n in range(1, 6)] + [digital_invoice(n) for n in range(1, 6)]
    keys = [key_of(r) for r in inv]
    events = [event(f"v{k}", k, "voided") for k in keys[:3]]
    events += [event(f"r{k}", k, "red_issued", detail={"scope": "full"}) for k in keys[5:7]]
    events += [event(f"d{k}", k) for k in keys]
    (tmp_path / "a").mkdir()
    first_ev = tmp_path / "a" / "ev.ndjson"
    first_ev.write_bytes(ndjson(events))
    inv_path = tmp_path / "inv.ndjson"
    inv_path.write_bytes(ndjson(inv))
    for native in (True, False):
        # events first: the invoices then fold over recorded status events
        _ingest(stores[native], native, first_ev)
        _ingest(stores[native], native, inv_path)
    native_state = _state(stores[True])
    assert native_state == _state(stores[False])
    statuses = {k: v.status.value for k, v in native_state["invoices"].items()}
    assert [statuses[k] for k in keys[:3]] == ["voided"] * 3
    assert [statuses[k] for k in keys[5:7]] == ["red_reversed"] * 2


def test_status_events_load_natively_and_fold(tmp_path, stores, monkeypatch):
    """Well-formed status-changing events are checked and written by SQL (no line goes
    through the Python path) and the invoices they name are folded as on the Python
    path: voids, red reversals full and partial, a flag and its clearing."""
    inv = [paper_invoice(n) for n in range(1, 4)] + [digital_invoice(n) for n in range(1, 5)]
    keys = [key_of(r) for r in inv]
    events = [event(f"v{k}", k, "voided") for k in (keys[0], keys[1], keys[3])]
    events += [
        event("r1", keys[4], "red_issued", detail={"scope": "full"}),
        event("r2", keys[5], "red_issued", detail={"scope": "partial", "amount": "-1.00"}),
        event("f1", keys[6], "flagged_abnormal"),
        event("f2", keys[2], "flagged_abnormal"),
        event("c2", keys[2], "abnormal_cleared", event_time="2026-03-31T10:15:00+08:00"),
    ]
    inv_path, ev_path = tmp_path / "inv.ndjson", tmp_path / "ev.ndjson"
    inv_path.write_bytes(ndjson(inv))
    ev_path.write_bytes(ndjson(events))
    summaries = {}
    for native in (False, True):
        if native:

            def no_python(*args):  # every line must stay in SQL
                raise AssertionError(f"line went the Python way: {args}")

            monkeypatch.setattr(_native, "validate_line", no_python)
        _ingest(stores[native], native, inv_path)
        summaries[native] = _ingest(stores[native], native, ev_path)[0]
    assert _counts(summaries[True]) == _counts(summaries[False])
    assert summaries[True].loaded.status_changes == 5
    native_state = _state(stores[True])
    assert native_state == _state(stores[False])
    statuses = [native_state["invoices"][k].status.value for k in keys]
    assert statuses == ["voided", "voided", "normal", "normal", "red_reversed",
                        "partly_red_reversed", "abnormal"]  # fmt: skip
    again = _ingest(stores[True], True, ev_path)[0]
    assert (again.loaded.events_written, again.loaded.status_changes) == (0, 0)


def _spread_status_events(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """16 invoices and their status events spread over many chunks of 1 KB (a flag,
    its clearing, a void, a red reversal; a line through the Python path)."""
    inv = [paper_invoice(n) for n in range(1, 9)] + [digital_invoice(n) for n in range(1, 9)]
    keys = [key_of(r) for r in inv]
    late = "2026-03-31T10:15:00+08:00"
    events = [event(f"f{i}", k, "flagged_abnormal") for i, k in enumerate(keys)]
    events += [event(f"d{i}", k) for i, k in enumerate(keys)]
    events += [event(f"c{i}", k, "abnormal_cleared", event_time=late)
               for i, k in enumerate(keys[::2])]  # fmt: skip
    events += [event(f"v{i}", k, "voided", event_time=late) for i, k in enumerate(keys[1:8:2])]
    events += [event(f"r{i}", k, "red_issued", event_time=late, detail={"scope": "full"})
               for i, k in enumerate(keys[9::2])]  # fmt: skip
    lines = ndjson(events).splitlines(keepends=True)
    lines[5] = lines[5].replace(b'"platform"', b'" platform"')  # through the Python path
    inv_path, ev_path = tmp_path / "inv.ndjson", tmp_path / "ev.ndjson"
    inv_path.write_bytes(ndjson(inv))
    ev_path.write_bytes(b"".join(lines))
    return inv_path, ev_path, keys


_SPREAD_STATUSES = ["normal", "voided"] * 4 + ["normal", "red_reversed"] * 4


def test_status_folds_beside_the_next_chunk_of_events(tmp_path, stores, monkeypatch):
    """A batch of statuses is refolded on a connection of its own while the next
    chunk loads: with a batch per key and an invoice's status events spread over
    many chunks the statuses and flows are those of the Python path, and a failed
    refold stops the run."""
    inv_path, ev_path, keys = _spread_status_events(tmp_path)
    monkeypatch.setattr(_native, "CHUNK_BYTES", 1024)  # ~4 events a chunk
    monkeypatch.setattr(_native, "REFOLD_KEYS", 1)  # a batch per key
    beside = []
    fold_beside = _native.NativeRun.fold_beside

    def counting(run, keys):
        beside.append(keys)
        return fold_beside(run, keys)

    monkeypatch.setattr(_native.NativeRun, "fold_beside", counting)
    summaries = {}
    for native in (False, True):
        _ingest(stores[native], native, inv_path)
        summaries[native] = _ingest(stores[native], native, ev_path)[0]
    assert len(beside) >= 8
    # statuses change per batch: flagged (16), then cleared (8), voided (4), reversed
    # (4); the Python path folds its one batch once (8)
    assert _counts(summaries[True])[:6] == _counts(summaries[False])[:6]
    assert (summaries[True].loaded.status_changes, summaries[False].loaded.status_changes) == (
        32,
        8,
    )
    native_state = _state(stores[True])
    assert native_state == _state(stores[False])
    statuses = [native_state["invoices"][k].status.value for k in keys]
    assert statuses == _SPREAD_STATUSES
    again = _ingest(stores[True], True, ev_path)[0]
    assert (again.loaded.events_written, again.loaded.status_changes) == (0, 0)

    calls: list[int] = []

    def failing(run, keys):
        calls.append(1)
        if len(calls) == 3:
            failed: Future[int] = Future()
            failed.set_exception(RuntimeError("refold failed"))
            return failed
        return fold_beside(run, keys)

    monkeypatch.setattr(_native.NativeRun, "fold_beside", failing)
    loaded = []
    store = stores[True]
    with pytest.raises(RuntimeError, match="refold failed"):
        _native.ingest_native(
            ev_path, Loader(store), on_chunk=lambda r, done: loaded.append(r), on_error=print
        )
    # it surfaces as the next batch starts: here among the first chunk's (a key each)
    assert (len(calls), len(loaded)) == (3, 0)
    left = store.client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND startsWith(name, '_ingest_')"
    ).result_rows
    assert left == []


def _logged_refolds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Every refold of statuses (either connection) and every chunk's invoice load, in
    order: ``("refold", keys)``, ``("invoices", [])``."""
    log: list[tuple[str, list[str]]] = []
    refold = Loader.refold
    load_invoices, check_invoices = _native_load.load_invoices, _native_load.check_invoices

    def logged_refold(loader, keys):
        if keys:
            log.append(("refold", list(keys)))
        return refold(loader, keys)

    def logged_load(run):
        log.append(("invoices", []))
        return load_invoices(run)

    def logged_check(run):  # a chunk of invoices only: its write goes beside the next
        log.append(("invoices", []))
        return check_invoices(run)

    monkeypatch.setattr(Loader, "refold", logged_refold)
    monkeypatch.setattr(_native_load, "load_invoices", logged_load)
    monkeypatch.setattr(_native_load, "check_invoices", logged_check)
    return log


def test_statuses_refold_in_batches_of_chunks(tmp_path, stores, chdb_root, monkeypatch):
    """The statuses of many chunks of events are refolded together: once for a file
    whose status keys are fewer than REFOLD_KEYS (its changes counted once, as on the
    Python path), in batches of REFOLD_KEYS and one chunk's keys at most otherwise;
    the statuses are all folded when the ingest returns, each chunk is reported once
    and in order."""
    inv_path, ev_path, keys = _spread_status_events(tmp_path)
    monkeypatch.setattr(_native, "CHUNK_BYTES", 1024)  # ~4 events a chunk
    log = _logged_refolds(monkeypatch)
    summaries = {}
    for native in (False, True):
        _ingest(stores[native], native, inv_path)
        log.clear()
        summaries[native] = _ingest(stores[native], native, ev_path)[0]
    assert [(what, sorted(ks)) for what, ks in log] == [("refold", sorted(keys))]  # once
    assert _counts(summaries[True]) == _counts(summaries[False])
    assert summaries[True].loaded.status_changes == 8
    native_state = _state(stores[True])
    assert native_state == _state(stores[False])
    assert [native_state["invoices"][k].status.value for k in keys] == _SPREAD_STATUSES

    # smaller batches (bounded memory): each starts once it holds REFOLD_KEYS keys
    monkeypatch.setattr(_native, "REFOLD_KEYS", 3)  # fewer than a chunk's ~4
    store = open_store(f"chdb://{chdb_root}?database=t_native_{uuid.uuid4().hex[:10]}_batches")
    try:
        _ingest(store, True, inv_path)
        log.clear()
        reported: list[int] = []
        _native.ingest_native(
            ev_path, Loader(store), on_chunk=lambda r, done: reported.append(done), on_error=print
        )
        batches = [ks for _, ks in log]
        assert len(batches) >= 5
        assert all(len(b) <= 3 for b in batches)  # the rest of a chunk's keys wait
        assert reported == sorted(reported)
        assert reported[-1] == ev_path.stat().st_size
        statuses = store.get_invoices(keys)  # all folded when it returned
        assert [statuses[k].status.value for k in keys] == _SPREAD_STATUSES
    finally:
        store.close()


def test_pending_statuses_refold_before_a_chunk_of_invoices(tmp_path, stores, monkeypatch):
    """A chunk with invoices reads the statuses it folds over and writes versions, so
    the statuses pending from the chunks of events before it are refolded first (on
    the main connection, not beside it); a file of invoices and events in chunks of
    each loads as on the Python path."""
    monkeypatch.setattr(_native, "CHUNK_BYTES", 1024)
    first = [digital_invoice(n) for n in range(1, 9)]
    keys = [key_of(r) for r in first]
    (tmp_path / "a").mkdir()
    first_path = tmp_path / "a" / "first.ndjson"
    first_path.write_bytes(ndjson(first))
    late = "2026-03-31T10:15:00+08:00"
    rows: list[dict[str, Any]] = [event(f"f{i}", k, "flagged_abnormal")
                                  for i, k in enumerate(keys)]  # fmt: skip
    changed = [digital_invoice(n, remarks="changed") for n in range(1, 5)]
    rows += [*changed, *(digital_invoice(n) for n in range(20, 24))]
    rows += [event(f"c{i}", k, "abnormal_cleared", event_time=late)
             for i, k in enumerate(keys[:4])]  # fmt: skip
    mixed = tmp_path / "mixed.ndjson"
    mixed.write_bytes(ndjson(rows))
    log = _logged_refolds(monkeypatch)
    got = {}
    for native in (False, True):
        _ingest(stores[native], native, first_path)
        log.clear()
        got[native] = _ingest(stores[native], native, mixed)[0]
    # on the native run (the last): the flags' batch, then the invoices' chunks
    first_load = log.index(("invoices", []))
    assert sorted(k for what, ks in log[:first_load] if what == "refold" for k in ks) == sorted(
        keys
    )
    assert _counts(got[True])[:6] == _counts(got[False])[:6]
    state = _state(stores[True])
    assert state == _state(stores[False])
    assert [state["invoices"][k].status.value for k in keys] == ["normal"] * 4 + ["abnormal"] * 4
    assert all(state["invoices"][key_of(r)].remarks == "changed" for r in changed)


def test_mixed_file_and_stale_work_tables(tmp_path, stores):
    """Invoices and events in one file load as on the Python path; work tables a killed
    run left behind are dropped by the next run, and a run leaves none of its own."""
    store = stores[True]
    store.client.command("CREATE TABLE _ingest_deadbeef0000_pi (n UInt64) ENGINE = Memory")
    inv = [digital_invoice(n) for n in range(1, 20)] + [paper_invoice(3)]
    rows = [*inv[:10], event("m1", key_of(inv[0])), *inv[10:],
            event("m2", key_of(inv[-1]), "voided"), event("m1", key_of(inv[1]))]  # fmt: skip
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(ndjson(rows))
    got = {native: _ingest(stores[native], native, path)[0] for native in (True, False)}
    assert _counts(got[True]) == _counts(got[False])
    assert _rejects(got[True]) == _rejects(got[False]) == [(23, "duplicate_event_id", "event_id")]
    assert _state(stores[True]) == _state(stores[False])
    left = store.client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND startsWith(name, '_ingest_')"
    ).result_rows
    assert left == []


def test_a_chunk_file_is_read_again_only_for_flagged_lines(tmp_path, stores, monkeypatch):
    """The rows SQL flags are read back from the chunk's file for the Python path; a
    chunk with none is not read again (a clean file: no read at all), and its row
    count is the parse's."""
    reads: list[str] = []
    rows = _native.NativeRun.rows

    def spy(run, text, **params):
        if "FROM file(" in text:
            reads.append(text)
        return rows(run, text, **params)

    monkeypatch.setattr(_native.NativeRun, "rows", spy)
    inv = [digital_invoice(n) for n in range(1, 30)]
    clean = tmp_path / "clean.ndjson"
    clean.write_bytes(ndjson(inv))
    (summary,) = _ingest(stores[True], True, clean)
    assert reads == []
    assert summary.rows == len(inv)
    assert summary.rejected == 0
    events = [event(f"a{i}", key_of(r)) for i, r in enumerate(inv)]
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(ndjson([*events, event("b1", "1")]))
    (summary,) = _ingest(stores[True], True, bad)
    assert len(reads) == 1
    assert summary.rows == len(inv) + 1
    assert _rejects(summary) == [(len(inv) + 1, "invoice_key_format", "invoice_key")]


def test_chunk_kinds_come_from_the_parse(tmp_path, stores, monkeypatch):
    """A chunk whose lines all open with the event id key is parsed as events alone; any
    other is parsed as invoices, and as events too unless every line of it became a
    row of invoices. Chunks with blank lines, events whose first key is another and
    chunks of both kinds load as on the Python path."""
    monkeypatch.setattr(_native, "CHUNK_BYTES", 4 * 1024)
    inv = [digital_invoice(n) for n in range(1, 25)] + [paper_invoice(n) for n in (3, 4)]
    keys = [key_of(r) for r in inv]
    lines = [ndjson([r]) for r in inv[:8]] + [b"\n", b"  \n"] + [ndjson([r]) for r in inv[8:12]]
    lines += [ndjson([event(f"a{i}", keys[i % 12])]) for i in range(60)]
    lines += [  # the event id not first: no line opens with it
        ndjson([{"invoice_key": keys[i % 12], **event(f"b{i}", keys[i % 12])}]) for i in range(30)
    ]
    for i, r in enumerate(inv[12:]):  # both kinds in one chunk
        lines += [ndjson([r]), ndjson([event(f"c{i}", key_of(r), "voided" if i == 3 else
                                            "delivered")]), b"\n"]  # fmt: skip
    lines += [ndjson([event("a1", keys[1])]), ndjson([inv[0]])]  # duplicates
    path = tmp_path / "kinds.ndjson"
    path.write_bytes(b"".join(lines))
    parse, seen = _native.NativeRun._parse, []

    def spy(run, tmp, slot, n, only_events):
        kinds, rows = parse(run, tmp, slot, n, only_events)
        seen.append((only_events, kinds))
        return kinds, rows

    monkeypatch.setattr(_native.NativeRun, "_parse", spy)
    got = {native: _ingest(stores[native], native, path)[0] for native in (True, False)}
    assert {(False, "i"), (True, "e"), (False, "e"), (False, "ie")} <= set(seen)
    assert _counts(got[True]) == _counts(got[False])
    assert _rejects(got[True]) == _rejects(got[False])
    assert [code for _, code, _ in _rejects(got[True])] == [
        "duplicate_event_id", "duplicate_invoice"
    ]  # fmt: skip
    assert _state(stores[True]) == _state(stores[False])


def test_duplicate_window_rotates(tmp_path, stores, monkeypatch):
    """The window of first occurrences rotates (here every 30 ids): a repeat inside it is
    still a duplicate, one far beyond it is skipped as already recorded. Rotating and
    finishing drop no table lazily: a dropped table's memory stays for 8 minutes (the
    Atomic database's delay), which made a long ingest's memory grow with the file."""
    monkeypatch.setattr(_native, "CHUNK_BYTES", 4 * 1024)
    monkeypatch.setattr(_native, "WINDOW", 30)
    key = "26442000000000000077"
    rows = [event(f"w{i}", key) for i in range(200)]
    rows += [event("w190", key), event("w0", key)]
    path = tmp_path / "ev.ndjson"
    path.write_bytes(ndjson(rows))
    (summary,) = _ingest(stores[True], True, path)
    assert _rejects(summary) == [(201, "duplicate_event_id", "event_id")]
    assert (summary.loaded.events_written, summary.loaded.events_known) == (200, 1)
    assert len(stores[True].get_events(key)) == 200
    pending = stores[True].client.query(
        "SELECT count() FROM system.dropped_tables WHERE database = currentDatabase()"
    )
    assert pending.result_rows == [(0,)]


@pytest.mark.parametrize("size", [1, 7, 64, 4096])
def test_plain_chunks_are_whole_lines_of_one_reused_buffer(tmp_path, size):
    """A plain file's chunks (views of one buffer) hold whole lines, in order, with the
    number of lines before each; lines longer than the buffer and a missing last
    newline included."""
    rnd = random.Random(size)
    path = tmp_path / "lines.ndjson"
    for end in (b"\n", b""):
        lines = [b"x" * rnd.choice([0, 3, 50, 5000]) for _ in range(40)]
        data = b"\n".join(lines) + end
        path.write_bytes(data)
        seen, before = [], 0
        for base, chunk, count in read_chunks(path, size):
            assert base == before
            part = bytes(chunk)
            assert part.endswith(b"\n")
            assert count == part.count(b"\n")
            seen.append(part)
            before += count
        assert b"".join(seen) == b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_rerun_repairs_what_a_kill_left_between_invoices_and_the_lookup_copy(
    tmp_path, stores, native
):
    """An invoice version is written to the lookup copy first, then to ``invoices``
    (migration 7); events go to ``invoice_events`` and a view copies them. A kill
    leaves ``invoices`` behind the copy (an invoice missing, a status version
    missing), the copy behind ``invoice_events`` (an event missing), or, in a data dir
    written before migration 7, the copy behind ``invoices`` (a version with its doc
    in ``invoices`` only). Rerunning the same files writes exactly those again, and
    the lookup answers what the tables do."""
    store = stores[native]
    inv = [digital_invoice(n) for n in range(1, 6)]
    keys = [key_of(r) for r in inv]
    events = [event(f"d{k}", k) for k in keys]
    events.append(event("r1", keys[1], "red_issued", detail={"scope": "full"}))
    events.append(event("a1", keys[4], "flagged_abnormal"))
    inv_path, ev_path = tmp_path / "inv.ndjson", tmp_path / "ev.ndjson"
    inv_path.write_bytes(ndjson(inv))
    ev_path.write_bytes(ndjson(events))
    _ingest(store, native, inv_path, ev_path)
    whole = {k: store.get_invoice_pair(k) for k in keys}
    assert whole[keys[4]][0].status.value == "abnormal"
    assert whole[keys[1]][0].status.value == "red_reversed"
    assert whole == {k: store.get_invoice_with_events(k) for k in keys}
    newest = max(store.lookup_versions([keys[1]]).values())
    old, flagged = whole[keys[3]][0], whole[keys[4]][0]
    store.client.command(
        "ALTER TABLE invoices DELETE WHERE invoice_key = {a:String} "
        "OR (invoice_key = {b:String} AND version = {v:UInt64}) SETTINGS mutations_sync = 2",
        parameters={"a": keys[0], "b": keys[1], "v": newest},
    )
    # versions written as before migration 7 (the doc in invoices), whose copies a
    # kill left out: a record's, and a status version's (the status it shows already)
    for was in (old, flagged):
        doc = encode_doc(msgspec.structs.replace(was, status=Status.NORMAL, version=0))
        data = invoice_columns([was], [doc], statuses=[was.status], versions=[was.version + 1])
        store.client.insert("invoices", data, column_names=INVOICE_COLUMNS, column_oriented=True)
    store.client.command(
        "ALTER TABLE invoice_lookup DELETE WHERE (invoice_key = {c:String} AND r = 1) "
        "OR (invoice_key = {d:String} AND version = {w:UInt64}) "
        "OR (invoice_key = {e:String} AND version = {x:UInt64}) SETTINGS mutations_sync = 2",
        parameters={
            "c": keys[2], "d": keys[3], "w": old.version + 1, "e": keys[4],
            "x": flagged.version + 1,
        },
    )  # fmt: skip
    assert store.get_invoice(keys[0]) is None
    assert store.get_invoice(keys[1]).status.value == "normal"  # behind the copy
    assert store.get_invoice_with_events(keys[1])[0].status.value == "red_reversed"
    assert store.get_invoice_with_events(keys[2])[1] == []
    assert store.get_invoice(keys[3]).version == old.version + 1  # the copy behind
    # the events alone repair the flow and the status version (refolded)...
    assert store.get_invoice_with_events(keys[4])[0].version == flagged.version
    _ingest(store, native, ev_path)
    for key in (keys[1], keys[2], keys[4]):
        assert store.get_invoice_with_events(key) == store.get_invoice_pair(key)
    assert store.get_invoice(keys[1]).status.value == "red_reversed"
    assert store.get_invoice(keys[4]).version > flagged.version + 1
    # ... the invoices the missing invoice and the copy's missing version
    again = _ingest(store, native, inv_path, ev_path)
    assert sum(s.rejected for s in again) == 0
    assert again[0].loaded.invoices_written == 2
    for key in keys:
        invoice, flow = store.get_invoice_with_events(key)
        assert (invoice, flow) == store.get_invoice_pair(key)
        assert msgspec.structs.replace(invoice, version=0) == msgspec.structs.replace(
            whole[key][0], version=0
        )
        assert flow == whole[key][1]
    assert store.get_invoice(keys[3]).version > old.version + 1
    # and nothing else was written: a third run writes nothing
    third = _ingest(store, native, inv_path, ev_path)
    assert sum(s.loaded.invoices_written + s.loaded.events_written for s in third) == 0
    assert sum(s.loaded.status_changes for s in third) == 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_rerun_writes_an_event_a_kill_left_in_the_lookup_copy_alone(tmp_path, stores, native):
    """A view gives no order between ``invoice_events`` and its copy, so a kill can
    leave a status event in the copy alone. The rerun must not count it as recorded:
    ``invoice_events`` and the status events its view feeds get it again."""
    store = stores[native]
    inv = [digital_invoice(n) for n in range(1, 4)]
    keys = [key_of(r) for r in inv]
    events = [event(f"d{k}", k) for k in keys]
    events.append(event("r1", keys[1], "red_issued", detail={"scope": "full"}))
    inv_path, ev_path = tmp_path / "inv.ndjson", tmp_path / "ev.ndjson"
    inv_path.write_bytes(ndjson(inv))
    ev_path.write_bytes(ndjson(events))
    _ingest(store, native, inv_path, ev_path)
    for table in ("invoice_events", "invoice_status_events"):
        store.client.command(
            f"ALTER TABLE {table} DELETE WHERE event_id = 'r1' SETTINGS mutations_sync = 2"
        )
    recorded = "SELECT count() FROM {t:Identifier} WHERE event_id = 'r1'"
    assert store.client.command(recorded, parameters={"t": "invoice_events"}) == 0
    assert "r1" in [e.event_id for e in store.get_invoice_with_events(keys[1])[1]]
    again = _ingest(store, native, ev_path)
    assert sum(s.loaded.events_written for s in again) == 1
    for table in ("invoice_events", "invoice_status_events"):
        assert store.client.command(recorded, parameters={"t": table}) == 1
    assert store.get_invoice_with_events(keys[1]) == store.get_invoice_pair(keys[1])
    assert store.get_invoice(keys[1]).status.value == "red_reversed"


def test_a_failed_background_parse_stops_the_run_after_the_chunks_before_it(
    tmp_path, generated, stores, monkeypatch
):
    """Chunks k+1 and k+2 are parsed on a second connection while chunk k loads: an
    error there reaches the caller, the chunks before it stay loaded, no work table
    is left."""
    monkeypatch.setattr(_native, "CHUNK_BYTES", 32 * 1024)  # 6 chunks
    path = tmp_path / "invoices.ndjson"
    path.write_bytes(generated[0])
    parse, calls = _native.NativeRun._parse, []

    def failing(run, tmp, slot, lines, only_events):
        calls.append(slot)
        if len(calls) == 3:
            raise RuntimeError("parse failed")
        return parse(run, tmp, slot, lines, only_events)

    monkeypatch.setattr(_native.NativeRun, "_parse", failing)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(_native.tempfile, "tempdir", str(temp))
    loaded = []
    store = stores[True]
    with pytest.raises(RuntimeError, match="parse failed"):
        _native.ingest_native(
            path, Loader(store), on_chunk=lambda r, done: loaded.append(r), on_error=print
        )
    assert calls == [0, 1, 2, 0, 1]  # three sets of parse tables; chunks 4, 5 were staged
    assert len(loaded) == 2  # the two chunks before the failed parse
    assert list(temp.iterdir()) == []  # every chunk file removed, staged or not
    written = sum(r.loaded.invoices_written for r in loaded)
    assert written == store.count("invoices") > 0
    left = store.client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND startsWith(name, '_ingest_')"
    ).result_rows
    assert left == []
