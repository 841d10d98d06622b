"""The lookup copy is merged back to few parts after a load (verify/_store/_settle.py),
each partition (migration 8) on a connection of its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.verify.test_store import make_event, make_invoice
from verify import Status
from verify._store import _settle
from verify._store._clickhouse import ClickHouseStore
from verify._store._settle import active_parts, partition_parts


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


def test_settle_merges_each_partition_to_one_part_and_answers_stay_the_same(
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
    assert len(partition_parts(store.client, store.database)) == 2  # keys in both
    _merges(store, on=True)
    settled = store.settle_lookup(max_parts=1)
    assert partition_parts(store.client, store.database) == {"0": 1, "1": 1}
    assert settled.parts_after == 2 == len(_parts(store))
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
    # part in its merge choice: ~600 000 rows a partition), then three small loads
    one_block = {"max_insert_block_size": 2_000_000, "min_insert_block_size_rows": 2_000_000}
    store.client.command(fill, parameters={"n": 1_200_000, "step": 4, "at": 0}, settings=one_block)
    large = _parts(store)
    assert len(large) == 2
    for n in range(1, 4):
        store.client.command(fill, parameters={"n": 10, "step": 4, "at": n})
    assert len(_parts(store)) == 8
    _merges(store, on=True)
    settled = store.settle_lookup()  # the default: at most 2 parts a partition
    parts = _parts(store)
    assert settled.parts_after == len(parts) == 4
    assert partition_parts(store.client, store.database) == {"0": 2, "1": 2}
    assert set(large) <= set(parts)  # the large parts were not rewritten for thirty rows


def test_settle_merges_the_partitions_each_on_a_connection_of_its_own(
    store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two OPTIMIZE statements go out at once, the second on a client the settle opened
    (and closed), and each partition ends merged: a merge runs on one thread, two run
    on two cores."""
    if not store.url.startswith("chdb:"):
        pytest.skip("the embedded engine's copy (a server merges in the background)")
    _merges(store, on=False)
    for n in range(1, 4):
        store.insert_invoices([make_invoice(n * 10 + k) for k in range(6)])
    before = partition_parts(store.client, store.database)
    assert before == {"0": 3, "1": 3}
    sent: list[list[int]] = []
    opened: list[Any] = []
    run = _settle._optimize

    def spy(clients: list[Any], database: str) -> None:
        sent.append([id(c) for c in clients])
        run(clients, database)

    def connect() -> Any:
        opened.append(store.another_client())
        return opened[-1]

    monkeypatch.setattr(_settle, "_optimize", spy)
    _merges(store, on=True)
    # wait_s = 0: no waiting for a background merge that took parts first
    settled = _settle.settle_lookup(
        store.client, store.database, max_parts=1, wait_s=0, connect=connect
    )
    assert partition_parts(store.client, store.database) == {"0": 1, "1": 1}
    assert settled.parts_after == 2
    assert sent[0] == [id(store.client), id(opened[0])]  # two at once, two clients
    assert len(opened) == 1
    with pytest.raises(Exception):  # noqa: B017 (closed: the driver's own error)
        opened[0].command("SELECT 1")


def test_a_failed_merge_on_the_second_connection_fails_the_settle(
    store: ClickHouseStore,
) -> None:
    """An OPTIMIZE that fails on the second connection is raised, not lost in its thread."""
    if not store.url.startswith("chdb:"):
        pytest.skip("the embedded engine's copy")

    class Broken:
        def command(self, *_: object, **__: object) -> None:
            raise RuntimeError("merge failed")

    with pytest.raises(RuntimeError, match="merge failed"):
        _settle._optimize([store.client, Broken()], store.database)
