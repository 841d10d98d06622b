"""A child process for the tests that need a process of their own (chDB holds one data
dir per process): ``python -m tests.ingest.child MODE DATA_DIR [PATH...]``.

- ``kill-after-batches N``: ingest with small batches, SIGKILL itself after N batches;
- ``kill-before-status``: ingest, SIGKILL itself just before an event batch's
  status versions are written (its events are already in);
- ``kill-between-writes N``: ingest with small batches, SIGKILL itself in the Nth
  write of invoice versions, after their rows of the lookup copy, before their rows
  of ``invoices`` (migration 7 writes them in that order);
- ``ingest``: ``fapiao ingest`` as users run it;
- ``report``: print the store's counts and every invoice's status as JSON;
- ``ingest-report``: both, in one process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    mode, data_dir, *rest = sys.argv[1:]
    os.environ["FAPIAO_DATA_DIR"] = data_dir
    from api.cli import main as fapiao
    from ingest import _run
    from verify import Settings, open_store
    from verify._store._clickhouse import ClickHouseStore

    if mode == "ingest":
        return fapiao(["ingest", "--no-progress", *rest])
    if mode == "ingest-report":
        code = fapiao(["ingest", "--no-progress", *rest])
        sys.stdout.flush()
        if code != 0:
            return code
        mode = "report"
    if mode == "report":
        store = open_store(Settings.from_env())
        keys = [
            r[0]
            for r in store._client.query("SELECT DISTINCT invoice_key FROM invoices").result_rows
        ]
        print(
            "REPORT "
            + json.dumps(
                {
                    "invoices": store.count("invoices"),
                    "versions": store.count("invoice_versions"),
                    "events": store.count("invoice_events"),
                    "statuses": {k: v.status.value for k, v in store.get_invoices(keys).items()},
                }
            )
        )
        return 0
    _run.INVOICE_BATCH = 50
    _run.EVENT_BATCH = 50
    if mode == "kill-after-batches":
        limit, *paths = rest
        seen = [0]

        def on_batch(_: object) -> None:
            seen[0] += 1
            if seen[0] >= int(limit):
                _die()

        from ingest._loader import Loader

        store = open_store(Settings.from_env())
        _run.ingest_paths(
            [Path(p) for p in paths], Loader(store), progress=False, on_batch=on_batch
        )
        return 3  # not reached when killed
    if mode == "kill-between-writes":
        limit, *paths = rest
        writes = [0]
        write_rows = ClickHouseStore._write_rows

        def rows_or_die(self: ClickHouseStore, columns: list[list[object]]) -> None:
            writes[0] += 1
            if writes[0] >= int(limit):
                _die()
            write_rows(self, columns)

        ClickHouseStore._write_rows = rows_or_die  # type: ignore[method-assign]
        return fapiao(["ingest", "--no-progress", *paths])
    if mode == "kill-before-status":
        ClickHouseStore.set_statuses = lambda self, statuses: _die() if statuses else None  # type: ignore[method-assign]
        return fapiao(["ingest", "--no-progress", *rest])
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main())
