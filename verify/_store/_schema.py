"""The registry's schema as numbered migrations, applied once each, in order.

Each migration is a list of idempotent statements (``IF NOT EXISTS``) so a
migration interrupted half way is simply run again. ``schema_migrations``
records what was applied; a migration is never edited once released, a new
one is appended instead. Why these engines and order keys: docs/adr/0001.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

STATUS_KINDS_SQL: Final = "('abnormal_cleared', 'flagged_abnormal', 'red_issued', 'voided')"
"""verify.STATUS_CHANGING_EVENTS as an SQL tuple (checked by a test)."""

COMPACT_PARTS_SQL: Final = (
    "min_bytes_for_wide_part = 1099511627776, min_rows_for_wide_part = 1099511627776"
)
"""MergeTree settings that keep every part compact (a part turns wide past 1 TiB)."""

LOOKUP_FROM_INVOICES_SQL: Final = (
    "SELECT invoice_key, 0 AS r, version, toDateTime64(0, 3, 'UTC') AS event_time, "
    "'' AS event_id, status, source_hash, doc AS payload FROM invoices"
)
"""An invoice version as a row of ``invoice_lookup`` (migration 4)."""
LOOKUP_INVOICE_COLUMNS: Final = ("invoice_key", "version", "status", "source_hash", "payload")
"""The columns of an invoice version's row in ``invoice_lookup`` that a writer sets (since
migration 7 every writer of a version writes this row itself; ``r``, ``event_time`` and
``event_id`` keep their defaults: 0, the epoch and '', as LOOKUP_FROM_INVOICES_SQL)."""
LOOKUP_FROM_EVENTS_SQL: Final = (
    "SELECT invoice_key, 1 AS r, 0 AS version, event_time, event_id, kind AS status, "
    "0 AS source_hash, concat('[', toString(toUnixTimestamp64Milli(event_time)), ',', "
    "toJSONString(event_id), ',', toJSONString(toString(kind)), ',', "
    "toJSONString(actor_tax_id), ',', toJSONString(toString(channel)), ',', "
    "toJSONString(detail), ']') AS payload FROM invoice_events"
)
"""An event as a row of ``invoice_lookup``: its fields as one JSON array (time in epoch
milliseconds, id, kind, actor, channel, detail)."""

SCHEMA_MIGRATIONS_DDL: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""

LZ4_COLUMNS: Final = {
    "invoices": (
        "invoice_key", "kind", "issue_date", "seller_tax_id", "buyer_tax_id", "total",
        "status", "record_status", "risk_level", "source_hash", "version",
    ),
    "invoice_events": (
        "invoice_key", "event_time", "event_id", "kind", "actor_tax_id", "channel", "detail",
    ),
    "invoice_status_events": (
        "invoice_key", "event_time", "event_id", "kind", "actor_tax_id", "channel", "detail",
    ),
    "invoice_lookup": (
        "invoice_key", "r", "version", "event_time", "event_id", "status", "source_hash",
    ),
    "invoice_changes": ("changed_at", "invoice_key"),
}  # fmt: skip
"""Migration 6: the columns migration 5 left to the engine's default codec."""


def _lz4(table: str) -> str:
    """One ``ALTER`` giving every column of ``LZ4_COLUMNS[table]`` the LZ4 codec (a
    codec-only ``MODIFY COLUMN``: type, default and sort key stay as they are)."""
    clauses = ", ".join(f"MODIFY COLUMN {c} CODEC(LZ4)" for c in LZ4_COLUMNS[table])
    return f"ALTER TABLE {table} {clauses}"


LOOKUP_PARTITION_BY: Final = "cityHash64(invoice_key) % 2"
"""Migration 8: the lookup copy's partitions, one per core of this machine (a key's rows
all in one partition, so replacing and reads see all its versions together)."""
_LOOKUP_SWAP: Final = "invoice_lookup_v8"
"""Migration 8's new copy until the swap, the old one after it (dropped at the end)."""


def partition_lookup(client: Any, database: str) -> None:
    """Migration 8: ``invoice_lookup`` rebuilt ``PARTITION BY`` LOOKUP_PARTITION_BY.

    A partition key cannot be altered, so the copy is copied into a new partitioned
    table, which then takes the old one's place (``EXCHANGE TABLES``: one atomic
    rename; the views write to the table of that name, so from then on into the new
    one). Rows written into the old table between the copy's snapshot and the swap (a
    writer of the code before, on a server) are copied after the swap: the parts with
    block numbers past the snapshot's (a part merged across the mark is copied whole: a
    duplicate, which merges and reads absorb). Then each partition is merged to one
    part (``OPTIMIZE … FINAL``): the copy comes out in insert-block-sized parts, which
    a lookup would each read a granule of and which the settle's merge selector, left
    to itself, would not merge (a 10^6 copy: 6 parts a partition, kept as they were).
    Last the old table is dropped. Run again after a kill at any point, it ends in the
    same state: before the swap the half copy is dropped and made again; after it the
    merge and the drop are done again (a kill between the swap and the catch-up copy
    loses what such a writer wrote meanwhile; chDB has no other writer: its one
    process is migrating). Cost: two passes over the copy, once (10^6 invoices: 8 s
    for the copy, 2026-11-25)."""
    names = dict(
        client.query(
            "SELECT name, partition_key FROM system.tables WHERE database = {db:String} "
            "AND name IN ('invoice_lookup', {t:String})",
            parameters={"db": database, "t": _LOOKUP_SWAP},
        ).result_rows
    )
    if not names["invoice_lookup"]:  # before the swap
        client.command(f"DROP TABLE IF EXISTS {database}.{_LOOKUP_SWAP} SYNC")
        client.command(
            f"CREATE TABLE {database}.{_LOOKUP_SWAP} AS {database}.invoice_lookup "
            f"ENGINE = ReplacingMergeTree PARTITION BY {LOOKUP_PARTITION_BY} "
            "ORDER BY (invoice_key, r, version, event_time, event_id) "
            f"SETTINGS index_granularity = 256, {COMPACT_PARTS_SQL}"
        )
        mark = int(
            client.command(
                "SELECT max(max_block_number) FROM system.parts WHERE database = {db:String} "
                "AND table = 'invoice_lookup' AND active",
                parameters={"db": database},
            )
            or 0
        )
        copy = {"optimize_on_insert": 0}
        client.command(
            f"INSERT INTO {database}.{_LOOKUP_SWAP} SELECT * FROM {database}.invoice_lookup",
            settings=copy,
        )
        client.command(f"EXCHANGE TABLES {database}.invoice_lookup AND {database}.{_LOOKUP_SWAP}")
        client.command(
            f"INSERT INTO {database}.invoice_lookup SELECT * FROM {database}.{_LOOKUP_SWAP} "
            "WHERE _part IN (SELECT name FROM system.parts WHERE database = {db:String} "
            "AND table = {t:String} AND active AND max_block_number > {mark:Int64})",
            parameters={"db": database, "t": _LOOKUP_SWAP, "mark": mark},
            settings=copy,
        )
    elif _LOOKUP_SWAP not in names:
        return  # done (the old table dropped)
    client.command(f"OPTIMIZE TABLE {database}.invoice_lookup FINAL")
    client.command(f"DROP TABLE IF EXISTS {database}.{_LOOKUP_SWAP} SYNC")


Statement = str | Callable[[Any, str], None]
"""A migration's step: SQL, or a function of (client, database) for a step that
depends on what the database holds (migration 8)."""

MIGRATIONS: Final[tuple[tuple[int, str, tuple[Statement, ...]], ...]] = (
    (
        1,
        "invoices, invoice_events, invoice_changes",
        (
            # One logical row per invoice key; a status change or a corrected record
            # is a new row with a higher version. Reads take the highest version
            # (LIMIT 1 BY / FINAL), so a stale version is never visible. `doc` is the
            # whole record (msgpack); `status` is this version's, `record_status`
            # the source record's own (event-driven statuses fold over it). Small
            # granules: a point lookup decompresses 256 rows of `doc`, not 8192.
            """
            CREATE TABLE IF NOT EXISTS invoices (
                invoice_key String,
                kind LowCardinality(String),
                issue_date Date,
                seller_tax_id String,
                buyer_tax_id String,
                total Decimal(18, 2),
                status LowCardinality(String),
                record_status LowCardinality(String),
                risk_level LowCardinality(String),
                source_hash UInt64,
                version UInt64,
                doc String
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY invoice_key
            SETTINGS index_granularity = 256
            """,
            # The flow. Sorted for "all events of one invoice in time order"; the same
            # event_id re-inserted has the same sort key, so merges drop it, and reads
            # also dedup with LIMIT 1 BY event_id until they do.
            """
            CREATE TABLE IF NOT EXISTS invoice_events (
                invoice_key String,
                event_time DateTime64(3, 'UTC'),
                event_id String,
                kind LowCardinality(String),
                actor_tax_id String,
                channel LowCardinality(String),
                detail Map(String, String)
            ) ENGINE = ReplacingMergeTree
            ORDER BY (invoice_key, event_time, event_id)
            SETTINGS index_granularity = 1024
            """,
            # Change log for cache coherence: every write that can change what a
            # verification answers appends the invoice keys here; serving processes
            # poll it (changes_since) and evict their cache entries.
            """
            CREATE TABLE IF NOT EXISTS invoice_changes (
                changed_at DateTime64(6, 'UTC') DEFAULT now64(6),
                invoice_key String
            ) ENGINE = MergeTree
            ORDER BY changed_at
            TTL toDateTime(changed_at) + INTERVAL 7 DAY
            """,
        ),
    ),
    (
        2,
        "invoice_status_events: the status-changing events alone, kept by a view",
        (
            # Ingest folds these for every batch of invoices; read from the whole flow,
            # the fold's lookup scanned a share of invoice_events that grows with the
            # table. About 1 event in 100 is status-changing.
            """
            CREATE TABLE IF NOT EXISTS invoice_status_events (
                invoice_key String,
                event_time DateTime64(3, 'UTC'),
                event_id String,
                kind LowCardinality(String),
                actor_tax_id String,
                channel LowCardinality(String),
                detail Map(String, String)
            ) ENGINE = ReplacingMergeTree
            ORDER BY (invoice_key, event_time, event_id)
            """,
            f"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS invoice_status_events_mv
            TO invoice_status_events AS
            SELECT invoice_key, event_time, event_id, kind, actor_tax_id, channel, detail
            FROM invoice_events WHERE kind IN {STATUS_KINDS_SQL}
            """,
            # events recorded before this migration (a rerun adds duplicates, which the
            # ReplacingMergeTree and LIMIT 1 BY event_id on read absorb)
            f"""
            INSERT INTO invoice_status_events
            SELECT invoice_key, event_time, event_id, kind, actor_tax_id, channel, detail
            FROM invoice_events WHERE kind IN {STATUS_KINDS_SQL}
            """,
        ),
    ),
    (
        3,
        "invoices, invoice_events: compact parts (one file a part) for point lookups",
        (
            # A point lookup opens every column file of every part it probes (wide
            # parts: ~15-20 files a query); a compact part keeps all columns in one
            # file. Measured in chDB on the same data: invoice lookup 2.3 -> 1.9 ms,
            # events 3.5 -> 2.4 ms, insert CPU unchanged (3.1 us a row either way).
            # Parts written from now on are compact, and merges of compact parts stay
            # compact; a merge that takes in a wide part written before this migration
            # writes a wide part (so an old data dir keeps its wide parts; reload it, or
            # leave it: reads are correct with either).
            f"ALTER TABLE invoices MODIFY SETTING {COMPACT_PARTS_SQL}",
            f"ALTER TABLE invoice_events MODIFY SETTING {COMPACT_PARTS_SQL}",
        ),
    ),
    (
        4,
        "invoice_lookup: an invoice's versions and its flow in one sorted range",
        (
            # A point lookup of an invoice with its flow is one read of one range: in
            # chDB most of a small query's cost is planning it (parse, analysis, plan,
            # pipeline: ~1.5-2.5 ms a read step on this machine, whatever it reads),
            # so two tables cost two of those (docs/adr/0001). Two materialized views
            # copy every invoice version (r = 0) and every event (r = 1) here; an
            # event's fields travel as one JSON array (``payload``), an invoice's as
            # its ``doc``. Ingest's idempotency checks read this table, so a rerun
            # after a kill between a table's part and this copy writes again what the
            # copy lacks (duplicates merge away: same sort key).
            f"""
            CREATE TABLE IF NOT EXISTS invoice_lookup (
                invoice_key String,
                r UInt8,
                version UInt64,
                event_time DateTime64(3, 'UTC'),
                event_id String,
                status LowCardinality(String),
                source_hash UInt64,
                payload String
            ) ENGINE = ReplacingMergeTree
            ORDER BY (invoice_key, r, version, event_time, event_id)
            SETTINGS index_granularity = 256, {COMPACT_PARTS_SQL}
            """,
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS invoice_lookup_invoices_mv "
            f"TO invoice_lookup AS {LOOKUP_FROM_INVOICES_SQL}",
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS invoice_lookup_events_mv "
            f"TO invoice_lookup AS {LOOKUP_FROM_EVENTS_SQL}",
            # what was recorded before this migration (a rerun adds duplicates, which
            # merge away and which reads drop)
            f"INSERT INTO invoice_lookup {LOOKUP_FROM_INVOICES_SQL}",
            f"INSERT INTO invoice_lookup {LOOKUP_FROM_EVENTS_SQL}",
        ),
    ),
    (
        5,
        "invoices.doc, invoice_lookup.payload: LZ4 in every part, merged ones too",
        (
            # chDB writes a merged part past ~1 GB with ZSTD(3) (new and smaller parts
            # with LZ4): the settle's one merge of a 10^6 copy compressed 1.5 GB with
            # it (~10 CPU-s). The record columns, most of the bytes merged, are LZ4
            # in every part now: less CPU a merge, faster to decompress, ~1.6x their
            # size on disk (docs/adr/0001). Metadata only: parts written before keep
            # their codec until a merge rewrites them.
            "ALTER TABLE invoices MODIFY COLUMN doc String CODEC(LZ4)",
            "ALTER TABLE invoice_lookup MODIFY COLUMN payload String CODEC(LZ4)",
        ),
    ),
    (
        6,
        "every column of the registry's tables: LZ4 in every part, merged ones too",
        (
            # Migration 5 did it for the record columns; the rest still went ZSTD(3) in
            # every part chDB merged past ~1 GB, which at 10^7 invoices is most of what
            # ingest's background merges and the settle write (invoice_events whole).
            # 3*10^6 invoices, load + settle in one process: 215-217 vs 228-232 CPU-s
            # (docs/adr/0001, 2026-11-24). Metadata only, as migration 5.
            *(_lz4(table) for table in LZ4_COLUMNS),
        ),
    ),
    (
        7,
        "an invoice's doc stored once: in invoice_lookup, written there before invoices",
        (
            # The ~1 KB doc went into invoices and, by the view of migration 4, into the
            # lookup copy again: two LZ4 copies of it written and merged. Since this
            # migration a writer writes each version's row of the copy itself, with the
            # doc, and then its row of invoices with doc = '' (ClickHouseStore's writes,
            # ingest/_native_load.py). The order makes every version in invoices have
            # its copy (a kill between leaves a whole version in the copy that invoices
            # lacks; ingest's checks read invoices, so the rerun writes it again), where
            # a view gives no order (ClickHouse docs: an insert is not atomic with its
            # views, either side may land first). A view that copies only rows carrying
            # their doc replaces the one of migration 4 (first the new, then the old
            # dropped: an insert between the two statements is copied twice, the same
            # row, which merges and reads absorb), so a writer that still puts the doc in
            # invoices (a process of the code before) keeps the copy whole. Rows written
            # before keep their doc in invoices; reads of invoices take the doc from
            # there when it is not '' (ClickHouseStore.current_rows_sql).
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS invoice_lookup_docs_mv "
            f"TO invoice_lookup AS {LOOKUP_FROM_INVOICES_SQL} WHERE doc != ''",
            "DROP VIEW IF EXISTS invoice_lookup_invoices_mv",
        ),
    ),
    (
        8,
        "invoice_lookup: two partitions by key hash, merged in parallel by the settle",
        (
            # The settle after a load (verify/_store/_settle.py) is one merge of the
            # whole copy, and a merge runs on one thread: 6.5-7.8 s of a 10^6 ingest's
            # ~25 s wall with the other core idle. Partitioned by a hash of the key,
            # each insert writes a part per partition, the settle merges the two
            # partitions at once, and a point lookup prunes to the key's partition
            # (EXPLAIN: Partition 1/2 parts, one granule): same granules a lookup.
            # A 10^6 load's copy, 32 parts (2026-11-24 23:36, load 2.1-2.8):
            # settle 3.65 / 3.79 s vs 7.82 / 7.27 s wall, CPU the same (7.1 vs 7.6).
            partition_lookup,
        ),
    ),
)
