"""``fapiao ingest`` and ``fapiao generate`` (the latter lives in ingest/_generate.py).

``fapiao ingest PATH...`` hands its rows to the service when one is running on
the same data directory (chDB admits one process), else opens the store itself.
Exit status: 0 all rows loaded, 1 some rows rejected (the rest loaded), 2 the
input or the store could not be used (nothing is loaded when an input is not a
regular file, starts with NUL bytes, or a directory cannot be used), 130 on Ctrl-C.
The same file named twice (by any path) is loaded once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from verify import FapiaoError, Settings
from verify._text import argv_text

BINARY_SNIFF = 4096
"""Bytes (decompressed) looked at for NUL: no NDJSON or CSV import file has one."""


def _show(path: Path) -> str:
    """A path as printable text: undecodable bytes of its name as U+FFFD."""
    return argv_text(str(path))[0]


def _unusable(paths: list[Path]) -> list[str]:
    """Why each unusable input cannot be ingested (empty list: all fine)."""
    import gzip
    import zlib

    from ingest._readers import open_binary

    problems = []
    for p in paths:
        if not p.exists():
            problems.append(f"{_show(p)}: no such file")
        elif not p.is_file():
            kind = "a directory" if p.is_dir() else "not a regular file (a FIFO or a device)"
            problems.append(f"{_show(p)}: {kind}")
        else:
            try:
                stream, _ = open_binary(p)
                with stream:
                    head = stream.read(BINARY_SNIFF)
            except (EOFError, gzip.BadGzipFile, zlib.error):
                continue  # a broken gzip stream: the reader reports it as a rejected line
            except OSError as exc:
                problems.append(f"{_show(p)}: cannot read: {exc.strerror or exc}")
                continue
            if b"\x00" in head:
                problems.append(f"{_show(p)}: binary data (NUL bytes), not NDJSON or CSV")
    return problems


def _once(paths: list[Path]) -> list[Path]:
    """``paths`` without repeats of one file (same device and inode), in order."""
    seen: set[tuple[int, int]] = set()
    out = []
    for p in paths:
        st = p.stat()
        if (st.st_dev, st.st_ino) in seen:
            print(f"fapiao ingest: {_show(p)} named twice, loaded once", file=sys.stderr)
            continue
        seen.add((st.st_dev, st.st_ino))
        out.append(p)
    return out


def run_generate(args: argparse.Namespace, settings: Settings) -> int:
    from ingest._generate import run_generate as impl

    return impl(args, settings)


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest._handoff import ServiceSink, find_service
    from ingest._loader import Loader
    from ingest._run import FileSummary, ingest_paths

    paths = [Path(p) for p in args.paths]
    problems = _unusable(paths)
    if problems:
        for problem in problems:
            print(f"fapiao ingest: {problem}", file=sys.stderr)
        print("fapiao ingest: nothing loaded", file=sys.stderr)
        return 2
    paths = _once(paths)
    rejects_dir = Path(args.rejects) if getattr(args, "rejects", None) else None
    if rejects_dir is not None:
        try:
            rejects_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(
                f"fapiao ingest: --rejects {_show(rejects_dir)} is not a usable directory:"
                f" {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
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
    except BrokenPipeError:
        raise  # stdout went away (`| head`): the entry ends quietly, this is no input error
    except OSError as exc:  # an input or a rejects file that failed mid-way
        where = _show(Path(exc.filename)) if exc.filename else "an input"
        print(f"fapiao ingest: cannot use {where}: {exc.strerror or exc}", file=sys.stderr)
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
