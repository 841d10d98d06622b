"""ClickHouseStore against real chDB (and a server when FAPIAO_TEST_CLICKHOUSE_URL is set)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import msgspec
import pytest

from verify import (
    EventKind,
    Invoice,
    InvoiceEvent,
    InvoiceStore,
    LineItem,
    Party,
    Status,
    StoreError,
    open_store,
)
from verify._store._clickhouse import LOOKUP_SQL, ClickHouseStore, split_url
from verify._store._rows import INVOICE_COLUMNS, content_hash, encode_doc, invoice_columns
from verify._store._schema import (
    COMPACT_PARTS_SQL,
    LOOKUP_FROM_INVOICES_SQL,
    LOOKUP_PARTITION_BY,
    LZ4_COLUMNS,
    MIGRATIONS,
    partition_lookup,
)
from verify._store._settle import partition_parts

CST = dt.timezone(dt.timedelta(hours=8))
APPLIED = [version for version, _, _ in MIGRATIONS]


def insert_before_7(store: ClickHouseStore, invoices: list[Invoice], **columns: object) -> None:
    """Invoices written as the code before migration 7 wrote them: one insert into
    ``invoices`` with the doc, and the view of migration 4 (if there) copying it."""
    versions = [inv.version or 1_000_000 + n for n, inv in enumerate(invoices)]
    docs = [encode_doc(inv) for inv in invoices]
    data = invoice_columns(invoices, docs, versions=versions)
    for name, value in columns.items():
        data[INVOICE_COLUMNS.index(name)] = [value] * len(invoices)
    store._client.insert("invoices", data, column_names=INVOICE_COLUMNS, column_oriented=True)


def back_to_6(store: ClickHouseStore) -> None:
    """The database as migration 6 left it: the view of migration 4 copies every
    version written to ``invoices`` (doc included) into the lookup copy."""
    store._client.command(
        f"CREATE MATERIALIZED VIEW invoice_lookup_invoices_mv TO invoice_lookup AS "
        f"{LOOKUP_FROM_INVOICES_SQL}"
    )
    store._client.command("DROP VIEW invoice_lookup_docs_mv")
    store._client.command("DELETE FROM schema_migrations WHERE version >= 7")


def make_invoice(n: int = 1, **changes: object) -> Invoice:
    number = f"2644200000000{n:07d}"
    inv = Invoice(
        invoice_key=number,
        kind="32",
        code="",
        number=number,
        issue_date=dt.date(2026, 3, 30),
        amount=Decimal("89.17"),
        tax=Decimal("11.59"),
        total=Decimal("100.76"),
        check_code="",
        seller=Party(tax_id="91350100M000100Y43", name="福州某某科技有限公司", bank="工商银行"),
        buyer=Party(tax_id="91110000802100433B", name="北京某某贸易有限公司"),
        items=(
            LineItem(
                name="*信息技术服务*软件维护",
                unit="次",
                quantity=Decimal("1"),
                unit_price=Decimal("89.17"),
                amount=Decimal("89.17"),
                tax_rate=Decimal("0.13"),
                tax=Decimal("11.59"),
            ),
        ),
        remarks="备注",
    )
    return msgspec.structs.replace(inv, **changes) if changes else inv


def make_event(event_id: str, key: str, minute: int = 0, **changes: object) -> InvoiceEvent:
    ev = InvoiceEvent(
        event_id=event_id,
        invoice_key=key,
        event_time=dt.datetime(2026, 3, 30, 10, minute, tzinfo=CST),
        kind=EventKind.DELIVERED,
        channel="email",
        detail={"to": "a@example.com"},
    )
    return msgspec.structs.replace(ev, **changes) if changes else ev


@pytest.fixture
def store(store_url: str) -> Iterator[ClickHouseStore]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture(params=["argmax", "final"])
def any_read_store(store_url: str, request: pytest.FixtureRequest) -> Iterator[ClickHouseStore]:
    """Both ways of reading the current version, which must agree."""
    s = open_store(store_url, read_mode=request.param)
    yield s
    s.close()


def test_open_store_returns_a_migrated_invoice_store(store: ClickHouseStore) -> None:
    assert isinstance(store, InvoiceStore)
    assert store.ping()
    assert store.applied_migrations() == APPLIED


def test_migrations_are_idempotent(store: ClickHouseStore) -> None:
    store.migrate()
    store.migrate()
    again = ClickHouseStore(store.url, database=store.database)
    try:
        assert again.applied_migrations() == APPLIED
    finally:
        again.close()


def test_invoice_round_trips_every_field(any_read_store: ClickHouseStore) -> None:
    inv = make_invoice()
    any_read_store.insert_invoices([inv])
    got = any_read_store.get_invoice(inv.invoice_key)
    assert got is not None
    assert got.version > 0
    assert msgspec.structs.replace(got, version=0) == inv


def test_missing_invoice_is_none(store: ClickHouseStore) -> None:
    assert store.get_invoice("26442000000009999999") is None
    assert store.get_invoices(["26442000000009999999"]) == {}


def test_new_version_supersedes_old_at_once(any_read_store: ClickHouseStore) -> None:
    inv = make_invoice(version=10)
    any_read_store.insert_invoices([inv])
    any_read_store.insert_invoices(
        [msgspec.structs.replace(inv, status=Status.RED_REVERSED, version=11)]
    )
    # an older version written later never wins
    any_read_store.insert_invoices(
        [msgspec.structs.replace(inv, status=Status.ABNORMAL, version=9)]
    )
    got = any_read_store.get_invoice(inv.invoice_key)
    assert got is not None
    assert (got.status, got.version) == (Status.RED_REVERSED, 11)
    assert (
        any_read_store.get_invoices([inv.invoice_key])[inv.invoice_key].status
        is Status.RED_REVERSED
    )
    assert any_read_store.count("invoices") == 1


def test_get_invoices_many(any_read_store: ClickHouseStore) -> None:
    invs = [make_invoice(n) for n in range(1, 51)]
    any_read_store.insert_invoices(invs)
    got = any_read_store.get_invoices([i.invoice_key for i in invs[:10]] + ["nope"])
    assert sorted(got) == sorted(i.invoice_key for i in invs[:10])


def test_events_in_time_order_and_idempotent_on_event_id(store: ClickHouseStore) -> None:
    key = make_invoice().invoice_key
    late = make_event("e2", key, minute=30, kind=EventKind.BOOKED, detail={"booking": "deducted"})
    early = make_event("e1", key, minute=5)
    store.insert_events([late, early])
    store.insert_events([early, late])  # a replay shows nothing twice
    events = store.get_events(key)
    assert [e.event_id for e in events] == ["e1", "e2"]
    assert events[0].event_time == early.event_time
    assert events[1].detail == {"booking": "deducted"}
    assert store.existing_event_ids([key]) == {"e1", "e2"}
    assert store.count("invoice_events") == 2


def test_invoice_with_events_is_one_read_of_the_newest_version_and_its_flow(
    any_read_store: ClickHouseStore,
) -> None:
    inv = make_invoice()
    key = inv.invoice_key
    assert any_read_store.get_invoice_with_events(key) == (None, [])
    any_read_store.insert_invoices([inv])
    assert any_read_store.get_invoice_with_events(key) == (any_read_store.get_invoice(key), [])
    any_read_store.set_statuses({key: Status.RED_REVERSED})  # a second version
    late = make_event("e2", key, minute=30, kind=EventKind.BOOKED, detail={"booking": "deducted"})
    early = make_event("e1", key, minute=5)
    any_read_store.insert_events([late, early])
    any_read_store.insert_events([early])  # a replay not merged away yet
    invoice, events = any_read_store.get_invoice_with_events(key)
    assert invoice is not None
    assert invoice.status is Status.RED_REVERSED
    assert invoice == any_read_store.get_invoice(key)
    assert events == any_read_store.get_events(key)
    assert [e.event_id for e in events] == ["e1", "e2"]
    assert events[0].event_time == early.event_time
    assert events[1].detail == {"booking": "deducted"}


def test_verification_counts(store: ClickHouseStore) -> None:
    a, b = make_invoice(1).invoice_key, make_invoice(2).invoice_key
    verified = [
        make_event(f"v{i}", a, minute=i, kind=EventKind.VERIFIED, channel="web", detail={})
        for i in range(3)
    ]
    store.insert_events([*verified, verified[0], make_event("d1", b)])
    assert store.verification_counts([a, b, "nope"]) == {a: 3}


def test_event_inserts_describe_the_table_once_and_again_after_a_failure(
    store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert context of ``invoice_events`` is built once (clickhouse-connect's
    ``insert`` would run ``DESCRIBE TABLE`` before every batch); a failed insert drops it."""
    client, built = store.client, []
    real = client.create_insert_context

    def counted(*args: object, **kwargs: object) -> object:
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "create_insert_context", counted)
    key = make_invoice().invoice_key
    store.insert_events([make_event("e1", key)])
    store.insert_events([make_event("e2", key, minute=1, kind=EventKind.VERIFIED, detail={})])
    assert built == ["invoice_events"]
    with pytest.raises(StoreError):
        store.insert_events([make_event("e3", key, channel=None)])  # not a string: refused
    store.insert_events([make_event("e4", key, minute=2)])
    assert built == ["invoice_events"] * 2
    assert [e.event_id for e in store.get_events(key)] == ["e1", "e2", "e4"]


def test_change_log_reports_each_written_key(store: ClickHouseStore) -> None:
    _, start = store.changes_since(None)
    assert store.changes_since(start) == ([], start)
    store.insert_invoices([make_invoice(1), make_invoice(2)])
    keys, mark = store.changes_since(start)
    assert sorted(keys) == [make_invoice(1).invoice_key, make_invoice(2).invoice_key]
    assert mark > start
    assert store.changes_since(mark) == ([], mark)
    store.record_changes([make_invoice(3).invoice_key])
    assert store.changes_since(mark)[0] == [make_invoice(3).invoice_key]


def test_change_log_limit_never_splits_one_write(store: ClickHouseStore) -> None:
    _, start = store.changes_since(None)
    store.record_changes(["k1", "k2", "k3"])
    store.record_changes(["k4"])
    keys, mark = store.changes_since(start, limit=2)
    assert sorted(keys) == ["k1", "k2", "k3"]
    assert store.changes_since(mark, limit=2)[0] == ["k4"]


def test_change_log_pages_end_between_writes(store: ClickHouseStore) -> None:
    _, start = store.changes_since(None)
    for keys in (["k1", "k2"], ["k3"], ["k4", "k5", "k6"]):
        store.record_changes(keys)
    pages = []
    mark = start
    while True:
        keys, mark = store.changes_since(mark, limit=2)
        if not keys:
            break
        pages.append(sorted(keys))
    assert pages == [["k1", "k2"], ["k3", "k4", "k5", "k6"]]


def test_status_events_and_fingerprints(store: ClickHouseStore) -> None:
    inv = make_invoice()
    store.insert_invoices([inv])
    red = make_event("r1", inv.invoice_key, kind=EventKind.RED_ISSUED, detail={"scope": "full"})
    store.insert_events([red, make_event("d1", inv.invoice_key)])
    assert store.status_events([inv.invoice_key]) == {inv.invoice_key: [red]}
    (state,) = store.invoice_states([inv.invoice_key]).values()
    assert state.version == store.get_invoice(inv.invoice_key).version  # type: ignore[union-attr]
    assert state.source_hash == content_hash(inv)
    assert (state.status, state.record_status, state.kind) == (Status.NORMAL, Status.NORMAL, "32")


def test_set_statuses_writes_whole_new_versions(store: ClickHouseStore) -> None:
    a, b = make_invoice(1), make_invoice(2)
    store.insert_invoices([a, msgspec.structs.replace(b, status=Status.VOIDED)])
    before = store.get_invoices([a.invoice_key, b.invoice_key])
    _, mark = store.changes_since(None)
    store.set_statuses({a.invoice_key: Status.RED_REVERSED})
    after = store.get_invoice(a.invoice_key)
    assert after is not None
    assert after.status is Status.RED_REVERSED
    assert after.version > before[a.invoice_key].version
    assert msgspec.structs.replace(after, status=Status.NORMAL, version=0) == a
    assert store.get_invoice(b.invoice_key) == before[b.invoice_key]
    states = store.invoice_states([a.invoice_key, b.invoice_key])
    assert states[a.invoice_key].record_status is Status.NORMAL
    assert states[a.invoice_key].source_hash == content_hash(a)
    assert states[b.invoice_key].record_status is Status.VOIDED
    assert store.changes_since(mark)[0] == [a.invoice_key]


def test_driver_errors_become_store_errors(store: ClickHouseStore) -> None:
    store._client.command("DROP TABLE invoice_events")
    with pytest.raises(StoreError) as info:
        store.get_events("26442000000000000001")
    assert info.value.code == "store_error"
    assert "invoice_events" in info.value.message


def test_status_kinds_sql_matches_the_domain() -> None:
    from verify import STATUS_CHANGING_EVENTS
    from verify._store._schema import STATUS_KINDS_SQL

    assert str(tuple(sorted(k.value for k in STATUS_CHANGING_EVENTS))) == STATUS_KINDS_SQL


def test_migration_2_backfills_status_events_recorded_before_it(store: ClickHouseStore) -> None:
    key = make_invoice().invoice_key
    red = make_event("r1", key, kind=EventKind.RED_ISSUED, detail={"scope": "full"})
    store._client.command("DROP VIEW invoice_status_events_mv")
    store._client.command("DROP TABLE invoice_status_events")
    store._client.command("DELETE FROM schema_migrations WHERE version >= 2")
    store.insert_events([red, make_event("d1", key)])
    assert store.applied_migrations() == [1]
    store.migrate()
    assert store.status_events([key]) == {key: [red]}
    red2 = make_event("r2", key, minute=9, kind=EventKind.VOIDED)
    store.insert_events([red2])  # and the view keeps it current
    assert store.status_events([key]) == {key: [red, red2]}


def test_migration_3_keeps_point_lookup_tables_in_compact_parts(store: ClickHouseStore) -> None:
    def engines() -> dict[str, str]:
        rows = store._client.query(
            "SELECT name, engine_full FROM system.tables WHERE database = {db:String} "
            "AND name IN ('invoices', 'invoice_events')",
            parameters={"db": store.database},
        ).result_rows
        return dict(rows)

    compact = "min_bytes_for_wide_part = 1099511627776"
    assert all(compact in engine for engine in engines().values())
    assert len(engines()) == 2
    # a database migrated before 3 (wide parts past 10 MB) gets the setting on migrate
    for table in ("invoices", "invoice_events"):
        store._client.command(
            f"ALTER TABLE {table} MODIFY SETTING min_bytes_for_wide_part = 10485760"
        )
    store._client.command("DELETE FROM schema_migrations WHERE version = 3")
    assert not any(compact in engine for engine in engines().values())
    store.migrate()
    assert all(compact in engine for engine in engines().values())
    assert store.applied_migrations() == APPLIED


def test_unsupported_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported ClickHouse URL"):
        open_store("mysql://localhost/db")


def test_split_url_keeps_engine_and_database() -> None:
    assert split_url("chdb:///var/ch?database=x1") == ("chdb:///var/ch", "x1")
    assert split_url("chdb:///var/ch") == ("chdb:///var/ch", "fapiao")
    assert split_url("http://u:p@h:8123/reg") == ("http://u:p@h:8123", "reg")
    assert split_url("https://h:8443") == ("https://h:8443", "fapiao")
    assert split_url("chdb:////abs/var/clickhouse") == ("chdb:///abs/var/clickhouse", "fapiao")


def test_migration_4_backfills_the_lookup_copy_and_keeps_it(store: ClickHouseStore) -> None:
    """invoice_lookup (one read for an invoice and its flow) gets what was recorded
    before migration 4, then its views keep it current: JSON details with quotes,
    backslashes and CJK text survive the copy."""
    inv = make_invoice()
    key = inv.invoice_key
    for name in ("invoice_lookup_docs_mv", "invoice_lookup_events_mv"):
        store._client.command(f"DROP VIEW {name}")
    store._client.command("DROP TABLE invoice_lookup")
    store._client.command("DELETE FROM schema_migrations WHERE version >= 4")
    odd = {"note": 'a "quoted" \\ back\\slash', "备注": "红字 ✓"}
    insert_before_7(store, [inv])
    store.insert_events([make_event("e1", key, detail=odd)])
    store.migrate()
    assert store.applied_migrations() == APPLIED
    invoice, flow = store.get_invoice_with_events(key)
    assert (invoice, flow) == store.get_invoice_pair(key)
    assert flow[0].detail == odd
    store.set_statuses({key: Status.VOIDED})
    store.insert_events([make_event("e2", key, minute=9, kind=EventKind.BOOKED)])
    invoice, flow = store.get_invoice_with_events(key)
    assert invoice is not None
    assert invoice.status is Status.VOIDED
    assert [e.event_id for e in flow] == ["e1", "e2"]
    assert store.lookup_versions([key]) == {key: invoice.version}
    store.migrate()  # idempotent
    assert store.get_invoice_with_events(key) == store.get_invoice_pair(key)


def test_lookup_of_any_key_text_is_exact(any_read_store: ClickHouseStore) -> None:
    """Keys travel as query parameters, or on chDB's point reader as escaped literals,
    never as SQL text: quotes, backslashes, NUL, tabs and newlines find nothing, or
    exactly the invoice of that key."""
    for odd in ("a'b", "a\\b", "a\tb", "a\nb", "a\0b", "\\'; DROP TABLE invoices; --", "{key}"):
        assert any_read_store.get_invoice_with_events(odd) == (None, [])
    inv = make_invoice()
    odd_key = inv.invoice_key + "\\'\t\0"
    any_read_store.insert_invoices([msgspec.structs.replace(inv, invoice_key=odd_key)])
    any_read_store.insert_events([make_event("o1", odd_key)])
    invoice, flow = any_read_store.get_invoice_with_events(odd_key)
    assert invoice is not None
    assert invoice.invoice_key == odd_key
    assert [e.event_id for e in flow] == ["o1"]
    assert any_read_store.get_invoice_with_events(inv.invoice_key) == (None, [])


def test_migration_5_writes_the_record_columns_with_lz4(store: ClickHouseStore) -> None:
    """invoices.doc and invoice_lookup.payload are LZ4 in every part (chDB would write a
    large merged part with ZSTD(3)); a database migrated before 5 gets it on migrate,
    and what it holds reads the same."""

    def codecs() -> dict[str, str]:
        rows = store._client.query(
            "SELECT table, compression_codec FROM system.columns WHERE database = {db:String} "
            "AND (table, name) IN (('invoices', 'doc'), ('invoice_lookup', 'payload'))",
            parameters={"db": store.database},
        ).result_rows
        return dict(rows)

    assert codecs() == {"invoices": "CODEC(LZ4)", "invoice_lookup": "CODEC(LZ4)"}
    inv = make_invoice()
    store.insert_invoices([inv])
    before = store.get_invoice_with_events(inv.invoice_key)
    store._client.command("ALTER TABLE invoices MODIFY COLUMN doc String CODEC(Default)")
    store._client.command("ALTER TABLE invoice_lookup MODIFY COLUMN payload String CODEC(Default)")
    store._client.command("DELETE FROM schema_migrations WHERE version = 5")
    assert codecs() == {"invoices": "CODEC(Default)", "invoice_lookup": "CODEC(Default)"}
    store.migrate()
    assert codecs() == {"invoices": "CODEC(LZ4)", "invoice_lookup": "CODEC(LZ4)"}
    assert store.applied_migrations() == APPLIED
    store._client.command("OPTIMIZE TABLE invoice_lookup FINAL")  # rewritten with LZ4
    assert store.get_invoice_with_events(inv.invoice_key) == before


def test_migration_6_writes_every_registry_column_with_lz4(store: ClickHouseStore) -> None:
    """Every column of the five registry tables is LZ4 after migration 6 (chDB would
    write a merged part past ~1 GB with ZSTD(3)); a database migrated before 6 gets
    it on migrate (types, defaults and sort keys unchanged), and reads the same."""

    def codecs() -> dict[tuple[str, str], str]:
        rows = store._client.query(
            "SELECT table, name, compression_codec FROM system.columns "
            "WHERE database = {db:String} AND table IN {tables:Array(String)}",
            parameters={"db": store.database, "tables": list(LZ4_COLUMNS)},
        ).result_rows
        return {(t, n): c for t, n, c in rows}

    assert set(codecs().values()) == {"CODEC(LZ4)"}
    assert {t for t, _ in codecs()} == set(LZ4_COLUMNS)
    inv = make_invoice()
    store.insert_invoices([inv])
    store.insert_events([make_event("m6", inv.invoice_key)])
    before = store.get_invoice_with_events(inv.invoice_key)
    changes = store.changes_since(0)[0]
    for table, columns in LZ4_COLUMNS.items():
        clauses = ", ".join(f"MODIFY COLUMN {c} CODEC(Default)" for c in columns)
        store._client.command(f"ALTER TABLE {table} {clauses}")
    store._client.command("DELETE FROM schema_migrations WHERE version = 6")
    assert "CODEC(Default)" in set(codecs().values())
    store.migrate()
    assert set(codecs().values()) == {"CODEC(LZ4)"}
    assert store.applied_migrations() == APPLIED
    for table in LZ4_COLUMNS:
        store._client.command(f"OPTIMIZE TABLE {table} FINAL")  # rewritten with LZ4
    assert store.get_invoice_with_events(inv.invoice_key) == before
    assert store.get_invoice_pair(inv.invoice_key) == before
    assert store.changes_since(0)[0] == changes


def _copies(store: ClickHouseStore, key: str) -> list[tuple[int, int]]:
    """The lookup copy's rows of an invoice's versions: (version, how many)."""
    rows = store._client.query(
        "SELECT version, count() FROM invoice_lookup WHERE r = 0 AND invoice_key = {k:String} "
        "GROUP BY version ORDER BY version",
        parameters={"k": key},
    ).result_rows
    return [(int(v), int(n)) for v, n in rows]


def test_migration_7_stores_each_doc_once_in_the_lookup_copy(
    any_read_store: ClickHouseStore,
) -> None:
    """A version's doc goes into the lookup copy (once: no view copies it again) and
    '' into invoices; reads of invoices take it from the copy, a status change copies
    it into its new version."""
    store = any_read_store
    inv = make_invoice()
    key = inv.invoice_key
    store.insert_invoices([inv])
    store.set_statuses({key: Status.VOIDED})
    docs = store._client.query(
        "SELECT doc FROM invoices WHERE invoice_key = {k:String}", parameters={"k": key}
    ).result_rows
    assert [d for (d,) in docs] == ["", ""]
    assert [n for _, n in _copies(store, key)] == [1, 1]
    got = store.get_invoice(key)
    assert got is not None
    assert got.status is Status.VOIDED
    assert store.get_invoice_with_events(key) == (got, [])
    assert msgspec.structs.replace(got, status=inv.status, version=0) == inv
    assert store.get_invoices([key]) == {key: got}
    assert store.current_docs([key]) == {key: encode_doc(inv)}


def test_an_old_data_dir_answers_the_same_after_migration_7(store: ClickHouseStore) -> None:
    """A database written before migration 7 (docs in invoices, copied by the view of
    migration 4) is migrated without moving data: reads fall back to the docs in
    invoices, a status change of an old invoice writes its doc into the copy, a
    process of the code before still gets whole copies, and new versions store
    their doc once."""
    back_to_6(store)
    old = [make_invoice(1), make_invoice(2)]
    insert_before_7(store, old)
    store.insert_events([make_event("e1", old[0].invoice_key)])
    keys = [inv.invoice_key for inv in old]
    before = {key: store.get_invoice_with_events(key) for key in keys}
    assert all(invoice is not None for invoice, _ in before.values())
    store.migrate()
    assert store.applied_migrations() == APPLIED
    for key, answer in before.items():
        assert store.get_invoice_with_events(key) == answer
        assert store.get_invoice_pair(key) == answer
    assert store.get_invoices(keys) == {k: a[0] for k, a in before.items()}
    assert store.current_docs(keys) == {inv.invoice_key: encode_doc(inv) for inv in old}
    store.set_statuses({keys[0]: Status.RED_REVERSED})
    invoice, flow = store.get_invoice_with_events(keys[0])
    assert invoice is not None
    assert invoice.status is Status.RED_REVERSED
    assert (invoice, flow) == store.get_invoice_pair(keys[0])
    assert [n for _, n in _copies(store, keys[0])] == [1, 1]
    # a writer of the code before (doc in invoices) still gets its copy, once
    third = make_invoice(3)
    insert_before_7(store, [third])
    assert store.get_invoice_with_events(third.invoice_key)[0] == store.get_invoice(
        third.invoice_key
    )
    assert [n for _, n in _copies(store, third.invoice_key)] == [1]
    store.migrate()  # idempotent
    assert store.get_invoice_with_events(keys[1]) == before[keys[1]]


def back_to_7(store: ClickHouseStore) -> None:
    """The database as migration 7 left it: the lookup copy in one partition."""
    c = store._client
    c.command(
        "CREATE TABLE lookup_7 (invoice_key String CODEC(LZ4), r UInt8 CODEC(LZ4), "
        "version UInt64 CODEC(LZ4), event_time DateTime64(3, 'UTC') CODEC(LZ4), "
        "event_id String CODEC(LZ4), status LowCardinality(String) CODEC(LZ4), "
        "source_hash UInt64 CODEC(LZ4), payload String CODEC(LZ4)) "
        "ENGINE = ReplacingMergeTree ORDER BY (invoice_key, r, version, event_time, event_id) "
        f"SETTINGS index_granularity = 256, {COMPACT_PARTS_SQL}"
    )
    c.command("INSERT INTO lookup_7 SELECT * FROM invoice_lookup")
    c.command("EXCHANGE TABLES invoice_lookup AND lookup_7")
    c.command("DROP TABLE lookup_7 SYNC")
    c.command("DELETE FROM schema_migrations WHERE version >= 8")
    assert _lookup_table(store) == ("", False)


def _lookup_table(store: ClickHouseStore) -> tuple[str, bool]:
    """The lookup copy's partition key, and whether migration 8's other table is there."""
    rows = store._client.query(
        "SELECT name, partition_key FROM system.tables WHERE database = {db:String} "
        "AND name IN ('invoice_lookup', 'invoice_lookup_v8')",
        parameters={"db": store.database},
    ).result_rows
    names = dict(rows)
    return names["invoice_lookup"], "invoice_lookup_v8" in names


def _registry(store: ClickHouseStore, n: int = 8) -> dict[str, object]:
    """n invoices with events and a status change; every answer by key."""
    invoices = [make_invoice(k) for k in range(1, n + 1)]
    store.insert_invoices(invoices)
    store.insert_events([make_event(f"e{k}", inv.invoice_key) for k, inv in enumerate(invoices)])
    store.set_statuses({invoices[0].invoice_key: Status.ABNORMAL})
    return {inv.invoice_key: store.get_invoice_with_events(inv.invoice_key) for inv in invoices}


def test_migration_8_partitions_the_lookup_copy_and_a_lookup_reads_one_partition(
    store: ClickHouseStore,
) -> None:
    """A copy in one partition (as migration 7 left it) is rebuilt in two by a hash of
    the key, row for row; its views write into the new one; a point lookup prunes to
    the key's partition (one part of the two a settled copy holds)."""
    before = _registry(store)
    back_to_7(store)
    # more rows than one insert block holds: the copy comes out in several parts
    store._client.command(
        "INSERT INTO invoice_lookup (invoice_key, r, version, payload) "
        "SELECT concat('k', toString(number)), 0, 1, hex(number) FROM numbers(1200000)"
    )
    rows = store._client.command("SELECT count() FROM invoice_lookup")
    store.migrate()
    assert store.applied_migrations() == APPLIED
    assert _lookup_table(store) == (LOOKUP_PARTITION_BY, False)
    assert store._client.command("SELECT count() FROM invoice_lookup") == rows
    assert partition_parts(store._client, store.database) == {"0": 1, "1": 1}
    for key, answer in before.items():
        assert store.get_invoice_with_events(key) == answer
    # the views (events) and the writers (versions) reach the new table
    key = next(iter(before))
    store.insert_events([make_event("after-8", key, minute=30)])
    store.set_statuses({key: Status.NORMAL})
    invoice, flow = store.get_invoice_with_events(key)
    assert invoice is not None
    assert invoice.status is Status.NORMAL
    assert flow[-1].event_id == "after-8"
    assert (invoice, flow) == store.get_invoice_pair(key)
    store._client.command("OPTIMIZE TABLE invoice_lookup FINAL")
    assert partition_parts(store._client, store.database) == {"0": 1, "1": 1}
    plan = "\n".join(
        r[0]
        for r in store._client.query(
            "EXPLAIN indexes = 1 " + LOOKUP_SQL, parameters={"key": key}
        ).result_rows
    )
    assert "Partition" in plan
    assert "Parts: 1 | Granules: 1" in plan  # of the 2: the key's partition alone


def test_migration_8_run_again_after_a_kill_ends_the_same(store: ClickHouseStore) -> None:
    """Killed before the swap (a half copy left) or after it (the old table left), the
    migration run again ends with the copy partitioned, row for row, nothing left."""
    before = _registry(store)
    rows = store._client.command("SELECT count() FROM invoice_lookup")
    back_to_7(store)
    store._client.command(
        "CREATE TABLE invoice_lookup_v8 AS invoice_lookup ENGINE = ReplacingMergeTree "
        f"PARTITION BY {LOOKUP_PARTITION_BY} ORDER BY (invoice_key, r, version) "
        f"SETTINGS {COMPACT_PARTS_SQL}"
    )
    store._client.command("INSERT INTO invoice_lookup_v8 SELECT * FROM invoice_lookup LIMIT 3")
    store.migrate()  # the half copy is dropped and made again
    assert _lookup_table(store) == (LOOKUP_PARTITION_BY, False)
    assert store._client.command("SELECT count() FROM invoice_lookup") == rows
    # after the swap: the old table still there, the migration not recorded
    store._client.command("CREATE TABLE invoice_lookup_v8 AS invoice_lookup")
    store._client.command("INSERT INTO invoice_lookup_v8 SELECT * FROM invoice_lookup")
    store._client.command("DELETE FROM schema_migrations WHERE version >= 8")
    store._client.command("SYSTEM STOP MERGES invoice_lookup")
    store.insert_events([make_event("late", next(iter(before)), minute=50)])  # a part more
    store._client.command("SYSTEM START MERGES invoice_lookup")
    store.migrate()  # the merge and the drop done again
    assert _lookup_table(store) == (LOOKUP_PARTITION_BY, False)
    assert store._client.command("SELECT count() FROM invoice_lookup") == rows + 1
    assert sum(partition_parts(store._client, store.database).values()) == 2
    for key, answer in list(before.items())[1:]:
        assert store.get_invoice_with_events(key) == answer


def test_migration_8_keeps_what_a_writer_wrote_during_the_copy(store: ClickHouseStore) -> None:
    """Rows written into the old copy after the copy's snapshot and before the swap (a
    writer of the code before, on a server) are copied into the new one after it."""
    before = _registry(store)
    key = next(iter(before))
    back_to_7(store)
    client = store._client

    class Writer:
        """The migration's client, with a writer's insert just before the swap."""

        def command(self, sql: str, **kw: object) -> object:
            if sql.startswith("EXCHANGE TABLES"):
                store.insert_events([make_event("during-8", key, minute=40)])
            return client.command(sql, **kw)

        def query(self, sql: str, **kw: object) -> object:
            return client.query(sql, **kw)

    partition_lookup(Writer(), store.database)
    _, flow = store.get_invoice_with_events(key)
    assert flow[-1].event_id == "during-8"
    assert store.get_invoice_with_events(key) == store.get_invoice_pair(key)
