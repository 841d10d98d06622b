"""``fapiao ingest`` and ``fapiao generate`` (the latter lives in ingest/_generate.py).

``fapiao ingest PATH...`` hands its rows to the service when one is running on
the same data directory (chDB admits one process), else opens the store itself.
Exit status: 0 all rows loaded, 1 some rows rejected (the rest loaded), 2 the
input or the store could not be used.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from verify import FapiaoError, Settings


def run_generate(args: argparse.Namespace, settings: Settings) -> int:
    from ingest._generate import run_generate as impl

    return impl(args, settings)


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest._handoff import ServiceSink, find_service
    from ingest._loader import Loader
    from ingest._run import FileSummary, ingest_paths

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"fapiao ingest: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    rejects_dir = Path(args.rejects) if getattr(args, "rejects", None) else None
    if rejects_dir is not None:
        rejects_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    handle = find_service(settings) if settings.clickhouse.url.startswith("chdb:") else None
    store = None
    summaries: list[FileSummary]

    def file_done(summary: FileSummary) -> None:
        print(summary.line(), flush=True)  # as each file ends, also into a log or a pipe

    try:
        if handle is not None:
            print(f"fapiao ingest: handing rows to the service at {handle.url}", file=sys.stderr)
            sink = ServiceSink(handle)
        else:
            from verify import open_store

            store = open_store(settings)
            sink = Loader(store)  # type: ignore[assignment]
        summaries = ingest_paths(
            paths,
            sink,
            rejects_dir=rejects_dir,
            progress=not getattr(args, "no_progress", False),
            on_file=file_done,
        )
        wrote = any(s.loaded.wrote for s in summaries)
        if store is not None and store.url.startswith("chdb:") and wrote:
            # the lookup copy back to few parts: nothing merges it once this process ends
            print(store.settle_lookup().line(), flush=True)
    except FapiaoError as exc:
        print(f"fapiao ingest: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()
    elapsed = time.monotonic() - started
    rows = sum(s.rows for s in summaries)
    rejected = sum(s.rejected for s in summaries)
    print(
        f"ingest: {len(summaries)} files, {rows} rows, {rows - rejected} valid, "
        f"{rejected} rejected in {elapsed:.1f}s ({rows / max(elapsed, 1e-9):,.0f} rows/s)",
        flush=True,
    )
    return 1 if rejected else 0
