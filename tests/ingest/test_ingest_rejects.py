"""Every bad row is rejected with its line number and a precise reason; good rows load."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from ingest._loader import Loader
from ingest._run import ingest_paths
from tests.ingest.samples import digital_invoice, event, key_of, ndjson, paper_invoice, write
from verify import open_store


@pytest.fixture(scope="module")
def store(chdb_root: Path) -> Any:
    """One database for the module: rejection happens before the store is involved."""
    s = open_store(f"chdb://{chdb_root}?database=t_rejects")
    yield s
    s.close()


@pytest.fixture
def ingest(store: Any, tmp_path: Path) -> Any:
    def run(*paths: Path) -> Any:
        return ingest_paths(list(paths), Loader(store), rejects_dir=tmp_path, progress=False)

    return run


def _rejects(summary: Any) -> list[dict[str, Any]]:
    assert summary.rejects_path, "a rejects file was expected"
    return [json.loads(line) for line in Path(summary.rejects_path).read_text().splitlines()]


def _spoil(**changes: Any) -> dict[str, Any]:
    return digital_invoice(9, **changes)


BAD_INVOICES = [
    (_spoil(kind="99"), "unknown_kind", "kind"),
    (_spoil(number="2644200000000000001"), "number_format", "number"),
    (_spoil(number="26052000000000000001"), "number_province", "number"),
    (_spoil(issue_date="2026-02-30"), "date_invalid", "issue_date"),
    (_spoil(amount="89.171"), "amount_format", "amount"),
    (_spoil(total="100.77"), "total_mismatch", "total"),
    (_spoil(status="lost"), "unknown_status", "status"),
    (_spoil(kind="61", code="4403201330"), "code_not_empty", "code"),
    (_spoil(code="4403201"), "code_length", "code"),
    (_spoil(seller={"tax_id": "91350100M000100Y44", "name": "x"}), "uscc_check", "seller.tax_id"),
    (_spoil(seller={"name": "no id"}), "field_missing", "seller.tax_id"),
    (_spoil(buyer={"tax_id": "123"}), "tax_id_format", "buyer.tax_id"),
    (_spoil(items=[{"name": "a", "amount": "89.17", "tax_rate": "13", "tax": "11.59"}]),
     "tax_rate", "items[0].tax_rate"),
    (_spoil(items=[{"name": "a", "amount": "80.00", "tax_rate": "0.13", "tax": "11.59"}]),
     "items_amount_mismatch", "items"),
    (paper_invoice(1, code="4403201130"), "kind_mismatch", "kind"),
    (paper_invoice(1, number="1234567"), "number_format", "number"),
    (paper_invoice(1, code="9903201330"), "code_region", "code"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "code", "field"), BAD_INVOICES)
def test_bad_invoice_rows_are_rejected_with_reason(
    tmp_path, ingest, store, record, code, field
) -> None:
    good = digital_invoice(1)
    path = write(tmp_path / "inv.ndjson", ndjson([good, record]))
    (summary,) = ingest(path)
    loaded = summary.loaded.invoices_written + summary.loaded.invoices_unchanged
    assert (summary.rows, summary.rejected, loaded) == (2, 1, 1)
    (reject,) = _rejects(summary)
    assert (reject["line"], reject["code"], reject["field"]) == (2, code, field)
    assert reject["reason"]
    assert json.loads(reject["raw"]) == record
    assert store.get_invoice(key_of(good)) is not None


BAD_EVENTS = [
    (event("e9", "26442000000000000001", "teleported"), "unknown_event_kind", "kind"),
    (event("e9", "26442000000000000001", "red_issued"), "red_scope", "detail.scope"),
    (event("e9", "2644"), "invoice_key_format", "invoice_key"),
    (event("e9", "26442000000000000001", event_time="yesterday"), "event_time_format",
     "event_time"),
    (event("e9", "26442000000000000001", actor_tax_id="91350100M000100Y44"), "uscc_check",
     "actor_tax_id"),
    (event("", "26442000000000000001"), "field_missing", "event_id"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "code", "field"), BAD_EVENTS)
def test_bad_event_rows_are_rejected_with_reason(tmp_path, ingest, record, code, field) -> None:
    path = write(tmp_path / "ev.ndjson", ndjson([event("ok", "26442000000000000001"), record]))
    (summary,) = ingest(path)
    loaded = summary.loaded.events_written + summary.loaded.events_known
    assert (summary.rejected, loaded) == (1, 1)
    (reject,) = _rejects(summary)
    assert (reject["line"], reject["code"], reject["field"]) == (2, code, field)


def test_duplicate_event_ids_in_a_file_are_rejected(tmp_path, ingest, store) -> None:
    key = "26442000000000000077"
    rows = [event("a", key), event("b", key), event("a", key, "booked")]
    (summary,) = ingest(write(tmp_path / "ev.ndjson", ndjson(rows)))
    (reject,) = _rejects(summary)
    assert (reject["line"], reject["code"]) == (3, "duplicate_event_id")
    assert "line 1" in reject["reason"]
    assert [e.event_id for e in store.get_events(key)] == ["a", "b"]


def test_duplicate_invoice_in_a_file_is_rejected(tmp_path, ingest) -> None:
    rows = [digital_invoice(1), digital_invoice(2), digital_invoice(1, remarks="again")]
    (summary,) = ingest(write(tmp_path / "inv.ndjson", ndjson(rows)))
    assert [(r["line"], r["code"]) for r in _rejects(summary)] == [(3, "duplicate_invoice")]


def test_invalid_utf8_and_json_lines_are_rejected_others_load(tmp_path, ingest) -> None:
    data = ndjson([digital_invoice(1)])
    data += b'{"kind": "32", "remarks": "\xff\xfe"}\n'
    data += b"{not json\n"
    data += b"[1, 2]\n"
    data += ndjson([digital_invoice(2)])
    (summary,) = ingest(write(tmp_path / "inv.ndjson", data))
    got = [(r["line"], r["code"]) for r in _rejects(summary)]
    assert got == [(2, "invalid_utf8"), (3, "invalid_json"), (4, "not_an_object")]
    assert summary.loaded.invoices_written + summary.loaded.invoices_unchanged == 2


def test_invalid_utf8_in_csv_is_rejected_by_line(tmp_path, ingest) -> None:
    from tests.ingest.samples import invoices_csv

    text = invoices_csv([digital_invoice(1), digital_invoice(2), digital_invoice(3)])
    lines = text.split(b"\n")
    lines[2] = lines[2].replace("北京".encode(), b"\xff\xff")
    (summary,) = ingest(write(tmp_path / "inv.csv", b"\n".join(lines)))
    assert [(r["line"], r["code"]) for r in _rejects(summary)] == [(3, "invalid_utf8")]
    assert summary.loaded.invoices_written + summary.loaded.invoices_unchanged == 2


def test_truncated_gzip_loads_whole_lines_and_rejects_the_tail(tmp_path, ingest) -> None:
    records = [digital_invoice(n, remarks="x" * 200) for n in range(1000, 1200)]
    whole = gzip.compress(ndjson(records))
    path = tmp_path / "inv.ndjson.gz"
    path.write_bytes(whole[: len(whole) // 2])
    (summary,) = ingest(path)
    rejects = _rejects(summary)
    assert [r["code"] for r in rejects] == ["truncated_gzip"]
    loaded = summary.loaded.invoices_written
    assert 0 < loaded < len(records)
    assert rejects[0]["line"] == loaded + 1
    assert summary.rejected == 1


def test_a_clean_rerun_removes_the_old_rejects_file(tmp_path, ingest) -> None:
    path = write(tmp_path / "inv.ndjson", ndjson([_spoil(kind="99")]))
    (first,) = ingest(path)
    assert Path(first.rejects_path).exists()
    write(path, ndjson([digital_invoice(1)]))
    (second,) = ingest(path)
    assert second.rejects_path is None
    assert not Path(first.rejects_path).exists()


def test_parallel_validation_gives_the_serial_result(tmp_path, store) -> None:
    rows = [digital_invoice(n) for n in range(2000, 2030)]
    rows[3] = _spoil(total="1.00")
    key = "26442000000000000088"
    rows += [event("p1", key), event("p2", key, "booked"), event("p1", key, "voided")]
    rows.append(digital_invoice(2005, remarks="again"))
    data = ndjson(rows) + b"{broken\n"
    whole = gzip.compress(data)
    path = tmp_path / "mixed.ndjson.gz"
    path.write_bytes(whole[: len(whole) - 4])  # cut in the gzip trailer: a truncated file
    results = {}
    for parallel in (False, True):
        out = tmp_path / f"rejects-{parallel}"
        out.mkdir()
        (s,) = ingest_paths(
            [path], Loader(store), rejects_dir=out, progress=False, parallel=parallel
        )
        results[parallel] = (
            s.rows,
            s.rejected,
            s.loaded.invoices_written + s.loaded.invoices_unchanged,
            s.loaded.events_written + s.loaded.events_known,
            [(r["line"], r["code"], r["raw"]) for r in _rejects(s)],
        )
    assert results[True] == results[False]
    assert [(line, code) for line, code, _ in results[True][4]] == [
        (4, "total_mismatch"), (33, "duplicate_event_id"), (34, "duplicate_invoice"),
        (35, "invalid_json"), (36, "truncated_gzip"),
    ]  # fmt: skip
    # a duplicate's raw text is its line on both paths (the parallel one wrote "")
    assert json.loads(results[True][4][1][2]) == rows[32]
    assert json.loads(results[True][4][2][2]) == rows[33]
