"""Invoice store backends (ClickHouse through clickhouse-connect). See _base.py."""
