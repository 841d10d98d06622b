"""The lookup copy is merged back to few parts after a load (verify/_store/_settle.py)."""

from __future__ import annotations

import pytest

from tests.verify.test_store import make_event, make_invoice
from verify import Status
from verify._store._clickhouse import ClickHouseStore
from verify._store._settle import active_parts


def _parts(store: ClickHouseStore) -> list[str]:
    return [
        r[0]
        for r in store.client.query(
            "SELECT name FROM system.parts WHERE database = {db:String} "
            "AND table = 'invoice_lookup' AND active ORDER BY name",
            parameters={"db": store.database},
        ).result_rows
    ]


def _merges(store: ClickHouseStore, on: bool) -> None:
    store.client.command(
        f"SYSTEM {'START' if on else 'STOP'} MERGES {store.database}.invoice_lookup"
    )


def test_settle_merges_the_copy_to_one_part_and_answers_stay_the_same(
    store: ClickHouseStore,
) -> None:
    if not store.url.startswith("chdb:"):
        pytest.skip("the embedded engine's copy (a server merges in the background)")
    _merges(store, on=False)
    invoices = [make_invoice(n) for n in range(1, 11)]
    for part in range(5):  # five loads: five parts of the copy, and their events
        store.insert_invoices(invoices[part * 2 : part * 2 + 2])
        store.insert_events(
            [
                make_event(f"e-{inv.invoice_key}", inv.invoice_key)
                for inv in invoices[part * 2 :][:2]
            ]
        )
    store.set_statuses({invoices[0].invoice_key: Status.ABNORMAL})
    keys = [inv.invoice_key for inv in invoices]
    before = {k: store.get_invoice_with_events(k) for k in keys}
    assert active_parts(store.client, store.database) >= 10
    _merges(store, on=True)
    settled = store.settle_lookup(max_parts=1)
    assert settled.parts_after == 1 == len(_parts(store))
    # merges are on again, so a background merge may finish before settle counts
    # the parts (seen once on a loaded box): only the outcome is certain
    assert settled.parts_before >= settled.parts_after
    assert {k: store.get_invoice_with_events(k) for k in keys} == before
    first = before[keys[0]][0]
    assert first is not None
    assert first.status == Status.ABNORMAL
    assert store.settle_lookup(max_parts=1).merges == 0  # one part: nothing to do


def test_settle_merges_a_small_load_not_the_whole_copy(store: ClickHouseStore) -> None:
    if not store.url.startswith("chdb:"):
        pytest.skip("the embedded engine's copy (a server merges in the background)")
    _merges(store, on=False)
    fill = (
        "INSERT INTO invoice_lookup (invoice_key, r, version, payload) "
        "SELECT concat('k', toString(number * {step:UInt64} + {at:UInt64})), 0, 1, "
        "hex(cityHash64(number)) FROM numbers({n:UInt64})"
    )
    # a large copy (tens of MB on disk: large next to ClickHouse's fixed cost of a
    # part in its merge choice), then three small loads
    store.client.command(fill, parameters={"n": 600_000, "step": 4, "at": 0})
    (large,) = _parts(store)
    for n in range(1, 4):
        store.client.command(fill, parameters={"n": 10, "step": 4, "at": n})
    assert len(_parts(store)) == 4
    _merges(store, on=True)
    settled = store.settle_lookup()  # the default: at most 2 parts
    parts = _parts(store)
    assert settled.parts_after == len(parts) == 2
    assert large in parts  # the large part was not rewritten for thirty rows
