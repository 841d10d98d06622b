"""The registry's schema as numbered migrations, applied once each, in order.

Each migration is a list of idempotent statements (``IF NOT EXISTS``) so a
migration interrupted half way is simply run again. ``schema_migrations``
records what was applied; a migration is never edited once released, a new
one is appended instead. Why these engines and order keys: docs/adr/0001.
"""

from __future__ import annotations

from typing import Final

_PARTY_COLUMNS: Final = ("tax_id", "name", "address", "phone", "bank", "account")


def _party(prefix: str) -> str:
    return ",\n    ".join(f"{prefix}_{column} String" for column in _PARTY_COLUMNS)


SCHEMA_MIGRATIONS_DDL: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""

MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        1,
        "invoices, invoice_events, invoice_changes",
        (
            # One logical row per invoice key; a status change or a corrected record
            # is a new row with a higher version. Reads take the highest version
            # (argMax / FINAL), so a stale version is never visible.
            f"""
            CREATE TABLE IF NOT EXISTS invoices (
                invoice_key String,
                kind LowCardinality(String),
                code String,
                number String,
                issue_date Date,
                amount Decimal(18, 2),
                tax Decimal(18, 2),
                total Decimal(18, 2),
                check_code String,
                status LowCardinality(String),
                risk_level LowCardinality(String),
                {_party("seller")},
                {_party("buyer")},
                items String,
                machine_no String,
                remarks String,
                source_hash UInt64,
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY invoice_key
            SETTINGS index_granularity = 1024
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
        "invoices.record_status: the status the source record gave, before events",
        (
            # Event-driven status changes fold over this base, so re-running an
            # ingest recomputes the same status and writes nothing new.
            "ALTER TABLE invoices ADD COLUMN IF NOT EXISTS record_status "
            "LowCardinality(String) DEFAULT status AFTER status",
        ),
    ),
)
