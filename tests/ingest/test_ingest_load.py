"""Loading: idempotent re-ingest, status folding, CSV/gzip, change log (real chDB)."""

from __future__ import annotations

from pathlib import Path

from tests.ingest.samples import (
    digital_invoice,
    event,
    events_csv,
    invoices_csv,
    key_of,
    ndjson,
    paper_invoice,
    write,
)
from verify import EventKind, Status


def _flow(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    invoices = [digital_invoice(n) for n in range(1, 6)] + [paper_invoice(7)]
    keys = [key_of(r) for r in invoices]
    events = [event(f"iss-{k}", k, "issued") for k in keys] + [
        event("red-1", keys[0], "red_issued", event_time="2026-04-02T09:00:00+08:00",
              detail={"scope": "full", "amount": "-89.17", "reason": "开票有误"}),
        event("red-2", keys[1], "red_issued", event_time="2026-04-02T09:00:00+08:00",
              detail={"scope": "partial", "amount": "-10.00", "reason": "销售折让"}),
        event("void-7", keys[5], "voided", event_time="2026-03-30T11:00:00+08:00"),
        event("ab-3", keys[2], "flagged_abnormal", event_time="2026-04-01T08:00:00+08:00"),
    ]  # fmt: skip
    inv_path = write(tmp_path / "invoices.ndjson", ndjson(invoices))
    ev_path = write(tmp_path / "events.ndjson", ndjson(events))
    return inv_path, ev_path, keys


def test_ingest_loads_invoices_events_and_statuses(tmp_path, ingest, store) -> None:
    inv_path, ev_path, keys = _flow(tmp_path)
    # events named first: invoice files are still loaded first
    summaries = ingest(ev_path, inv_path)
    assert [Path(s.path).name for s in summaries] == ["invoices.ndjson", "events.ndjson"]
    assert summaries[0].loaded.invoices_written == 6
    assert summaries[1].loaded.events_written == 10
    assert summaries[1].loaded.status_changes == 4
    statuses = {k: inv.status for k, inv in store.get_invoices(keys).items()}
    assert statuses == {
        keys[0]: Status.RED_REVERSED,
        keys[1]: Status.PARTLY_RED_REVERSED,
        keys[2]: Status.ABNORMAL,
        keys[3]: Status.NORMAL,
        keys[4]: Status.NORMAL,
        keys[5]: Status.VOIDED,
    }
    assert [e.kind for e in store.get_events(keys[0])] == [EventKind.ISSUED, EventKind.RED_ISSUED]


def test_reingesting_the_same_files_changes_nothing(tmp_path, ingest, store) -> None:
    inv_path, ev_path, keys = _flow(tmp_path)
    ingest(inv_path, ev_path)
    versions = {k: v.version for k, v in store.get_invoices(keys).items()}
    counts = (store.count("invoice_versions"), store.count("invoice_events"))
    _, mark = store.changes_since(None)
    again = ingest(inv_path, ev_path)
    assert again[0].loaded.invoices_written == 0
    assert again[0].loaded.invoices_unchanged == 6
    assert again[1].loaded.events_written == 0
    assert again[1].loaded.events_known == 10
    assert again[1].loaded.status_changes == 0
    assert {k: v.version for k, v in store.get_invoices(keys).items()} == versions
    assert (store.count("invoice_versions"), store.count("invoice_events")) == counts
    assert store.changes_since(mark)[0] == []


def test_status_change_is_visible_at_once_and_logged(tmp_path, ingest, store) -> None:
    record = digital_invoice(1)
    key = key_of(record)
    ingest(write(tmp_path / "a.ndjson", ndjson([record])))
    assert store.get_invoice(key).status is Status.NORMAL
    _, mark = store.changes_since(None)
    red = event("r1", key, "red_issued", detail={"scope": "full", "amount": "-89.17"})
    ingest(write(tmp_path / "b.ndjson", ndjson([red])))
    assert store.get_invoice(key).status is Status.RED_REVERSED
    assert store.changes_since(mark)[0] == [key]


def test_abnormal_flag_cleared_restores_the_status_before_it(tmp_path, ingest, store) -> None:
    record = digital_invoice(1)
    key = key_of(record)
    events = [
        event("p", key, "red_issued", event_time="2026-04-01T08:00:00+08:00",
              detail={"scope": "partial", "amount": "-1.00"}),
        event("f", key, "flagged_abnormal", event_time="2026-04-02T08:00:00+08:00"),
    ]  # fmt: skip
    ingest(write(tmp_path / "a.ndjson", ndjson([record, *events])))
    assert store.get_invoice(key).status is Status.ABNORMAL
    cleared = event("c", key, "abnormal_cleared", event_time="2026-04-03T08:00:00+08:00")
    ingest(write(tmp_path / "b.ndjson", ndjson([cleared])))
    assert store.get_invoice(key).status is Status.PARTLY_RED_REVERSED


def test_voided_event_on_an_electronic_invoice_does_not_void_it(tmp_path, ingest, store) -> None:
    record = digital_invoice(1)
    key = key_of(record)
    ingest(write(tmp_path / "a.ndjson", ndjson([record, event("v", key, "voided")])))
    assert store.get_invoice(key).status is Status.NORMAL


def test_a_digital_paper_invoice_keeps_its_code_and_is_keyed_by_its_number(
    tmp_path, ingest, store
) -> None:
    """数电 kinds 31/32 with a code are printed on paper (DOMAIN.md §1)."""
    record = digital_invoice(4, code="044031900104")
    ingest(write(tmp_path / "a.ndjson", ndjson([record])))
    stored = store.get_invoice(record["number"])
    assert (stored.kind, stored.code, stored.number) == ("32", "044031900104", record["number"])


def test_a_digital_paper_invoice_can_be_voided_an_electronic_one_cannot(
    tmp_path, ingest, store
) -> None:
    paper, electronic = digital_invoice(5, code="044031900104"), digital_invoice(6)
    keys = [paper["number"], electronic["number"]]
    voids = [event(f"v{k}", k, "voided") for k in keys]
    ingest(write(tmp_path / "a.ndjson", ndjson([paper, electronic, *voids])))
    assert [store.get_invoice(k).status for k in keys] == [Status.VOIDED, Status.NORMAL]
    # events first: the invoice's fold reads the code from its own record
    later = digital_invoice(7, code="044031900104")
    ingest(write(tmp_path / "ev.ndjson", ndjson([event("v7", later["number"], "voided")])))
    ingest(write(tmp_path / "inv.ndjson", ndjson([later])))
    assert store.get_invoice(later["number"]).status is Status.VOIDED


def test_events_loaded_before_their_invoice_still_set_its_status(tmp_path, ingest, store) -> None:
    record = paper_invoice(3)
    key = key_of(record)
    ingest(write(tmp_path / "ev.ndjson", ndjson([event("v", key, "voided")])))
    assert store.get_invoice(key) is None
    ingest(write(tmp_path / "inv.ndjson", ndjson([record])))
    assert store.get_invoice(key).status is Status.VOIDED


def test_a_corrected_record_is_a_new_version_keeping_event_status(tmp_path, ingest, store) -> None:
    record = paper_invoice(3)
    key = key_of(record)
    ingest(write(tmp_path / "a.ndjson", ndjson([record, event("v", key, "voided")])))
    first = store.get_invoice(key)
    fixed = paper_invoice(3, remarks="更正备注")
    result = ingest(write(tmp_path / "b.ndjson", ndjson([fixed])))
    assert result[0].loaded.invoices_written == 1
    now = store.get_invoice(key)
    assert (now.remarks, now.status) == ("更正备注", Status.VOIDED)
    assert now.version > first.version


def test_csv_gzip_loads_the_same_as_ndjson(tmp_path, ingest, store) -> None:
    records = [digital_invoice(1), paper_invoice(2)]
    events = [event("e1", key_of(records[0]), detail={"to": "a@example.com"})]
    ingest(
        write(tmp_path / "inv.csv.gz", invoices_csv(records), gz=True),
        write(tmp_path / "ev.csv", events_csv(events)),
    )
    from_csv = store.get_invoices([key_of(r) for r in records])
    assert store.get_events(key_of(records[0]))[0].detail == {"to": "a@example.com"}
    again = ingest(write(tmp_path / "inv.ndjson", ndjson(records)))
    assert again[0].loaded.invoices_unchanged == 2  # same content, whatever the format
    assert len(from_csv) == 2
    assert from_csv[key_of(records[0])].items[0].name == "*信息技术服务*软件维护"
