"""Decode benchmark: the QR cascade against each library alone, per degradation category.

    python -m loadtests.bench_decode [--quick] [--per-category N] [--cache DIR]

Builds (and caches) synthetic phone photos of invoices with ``ocr.synth`` at 12 MP
and 2 MP, for a tuning split (seeds 0..N-1, the one the cascade was tuned on;
``--tune-from S``: seeds S..S+N-1, tuning photos never studied yet) and a held-out
split (seeds from 100000, never tuned on). For every photo it
times, on one pinned CPU core per worker process, ``ocr.decode_bytes`` (the
cascade, OCR off; JPEG decoding included) and each library alone on the full
grayscale image (zxing-cpp, pyzbar, OpenCV QRCodeDetectorAruco and
QRCodeDetector; JPEG decoding included; in a child process cut off after
``--alone-limit-s``, since OpenCV's QRCodeDetector can spend minutes on one
photo). A photo counts as read when every invoice in it is found. Then the OCR
fallback's field accuracy on photos whose QR was left out. Prints tables; the
figures in docs/ocr.md come from here.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

LIBRARIES = ("zxing", "zbar", "cv_aruco", "cv")
SPLITS = {"tune": 0, "held-out": 100_000}
OCR_SEEDS = 200_000
"""The OCR photos' own seeds: held-out QR seeds were looked at while fixing the OCR."""
OCR_CATEGORIES = ("clean", "perspective", "lighting", "noise", "rotation")


def _pin() -> None:
    """One core per worker: the timings are per-core figures."""
    import cv2

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        ident = os.getpid() % len(cores)
        os.sched_setaffinity(0, {cores[ident]})


def _photo_path(  # noqa: PLR0917
    cache: Path, split: str, seed: int, category: str, size: str, qr: bool, version: int
) -> Path:
    """Keyed by the generator's version and the seed: a changed generator re-renders."""
    name = f"v{version}-{split}-{size}-{category}-{seed}{'' if qr else '-noqr'}.jpg"
    return cache / name


def _make(args: tuple[Path, str, int, str, str, bool, int]) -> tuple[Path, list[str]]:
    cache, split, seed, category, size, qr, version = args
    from ocr.synth._photo import SYNTH_VERSION, make_photo

    path = _photo_path(cache, split, seed, category, size, qr, version)
    meta = path.with_suffix(".txt")
    if not (path.exists() and meta.exists()):
        if version != SYNTH_VERSION:
            raise SystemExit(f"{path} is not cached: only v{SYNTH_VERSION} photos can be made")
        photo = make_photo(seed, category, size, qr=qr)
        path.write_bytes(photo.data)
        meta.write_text("\n".join(photo.payloads))
    return path, meta.read_text().splitlines()


def _measure(
    args: tuple[Path, list[str], float, float, tuple[str, ...]],
) -> dict[str, tuple[bool, float, str, float]]:
    """Per method: (read every invoice, CPU seconds, stage, wall seconds).

    CPU time of this thread (cv2 runs single-threaded here) is one core's work,
    whatever else the machine does; the cascade's budget is counted in it too.
    """
    from ocr import DecodeError, decode_bytes

    path, expected, budget_s, alone_limit_s, libraries = args
    data = path.read_bytes()
    want = set(expected)
    out = {}
    wall, cpu = time.perf_counter(), time.thread_time()
    stage = "-"
    try:
        result = decode_bytes(
            data,
            max_pixels=60_000_000,
            allow_ocr=False,
            qr_budget_s=budget_s,
            budget_clock=time.thread_time,
        )
        got = set(result.payloads)
        stage = result.stage or "-"
    except DecodeError:
        got = set()
    out["cascade"] = (want <= got, time.thread_time() - cpu, stage, time.perf_counter() - wall)
    return out | (_libraries_alone(data, want, alone_limit_s, libraries) if libraries else {})


def _libraries_alone(
    data: bytes, want: set[str], limit_s: float, libraries: tuple[str, ...] = LIBRARIES
) -> dict[str, tuple[bool, float, str, float]]:
    """Each library alone, in a forked child killed after ``limit_s`` of wall time: a
    C++ call cannot be interrupted, and OpenCV's QRCodeDetector can spend minutes on
    one 12-MP photo. A library cut off counts as not reading the photo."""
    out = {name: (False, limit_s, f"{name} cut off", limit_s) for name in libraries}
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one JSON line per library, as each finishes
        os.close(read_fd)
        try:
            _report_alone(data, want, write_fd, libraries)
        finally:
            os._exit(0)
    os.close(write_fd)
    deadline = time.monotonic() + limit_s
    received = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                break
            chunk = pipe.read(65536)
            if not chunk:
                break
            received += chunk
    os.waitpid(pid, 0)
    for line in received.splitlines():
        name, ok, cpu, wall = json.loads(line)
        out[name] = (ok, cpu, name, wall)
    return out


def _report_alone(data: bytes, want: set[str], fd: int, libraries: tuple[str, ...]) -> None:
    import cv2
    import numpy as np

    from ocr._readers import READERS

    for name in libraries:
        wall, cpu = time.perf_counter(), time.thread_time()
        gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if gray is None:  # not an image OpenCV decodes: no library reads it
            raise ValueError("cv2.imdecode could not decode the photo")
        got = {t.strip() for t in READERS[name](np.asarray(gray))}
        row = [name, want <= got, time.thread_time() - cpu, time.perf_counter() - wall]
        os.write(fd, json.dumps(row).encode() + b"\n")


def _ocr_one(args: tuple[Path, list[str]]) -> dict[str, bool]:
    from ocr import DecodeError, decode_bytes
    from verify import parse_qr

    path, expected = args
    want = parse_qr(expected[0])
    try:
        result = decode_bytes(path.read_bytes(), max_pixels=60_000_000)
        got = result.invoices[0] if result.invoices else None
    except DecodeError:
        got = None
    fields = {
        "code": "code",
        "number": "number",
        "issue_date": "issue_date",
        "amount": "amount",
        "check_code": "check_code",
    }
    marks = {f: got is not None and getattr(got, a) == getattr(want, a) for f, a in fields.items()}
    marks["all"] = all(marks.values())
    return marks


def _pct(values: list[bool]) -> str:
    return f"{100 * sum(values) / max(1, len(values)):5.1f}%"


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "   -"
    values = sorted(values)
    return f"{1000 * values[min(len(values) - 1, int(q * len(values)))]:5.0f}"


def main(argv: list[str] | None = None) -> int:
    from verify._settings import OcrSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 photos per category and split")
    parser.add_argument(
        "--per-category", type=int, default=10, help="photos per category and split"
    )
    parser.add_argument(
        "--budget-ms",
        type=int,
        default=OcrSettings().qr_budget_ms,
        help="the cascade's time budget per photo (the service's FAPIAO_OCR_QR_BUDGET_MS)",
    )
    parser.add_argument(
        "--alone-limit-s",
        type=float,
        default=20.0,
        help="wall seconds for the four libraries alone on one photo before they are cut off",
    )
    parser.add_argument("--sizes", default="12mp,2mp")
    parser.add_argument(
        "--libraries",
        default=",".join(LIBRARIES),
        help="libraries timed alone besides the cascade (comma-separated; '' for none)",
    )
    parser.add_argument("--splits", default=",".join(SPLITS), help="tune, held-out or both")
    parser.add_argument(
        "--tune-from",
        type=int,
        default=SPLITS["tune"],
        help="first seed of the tuning split (a later one: tuning photos nobody studied)",
    )
    parser.add_argument("--categories", default="", help="only these (comma-separated)")
    parser.add_argument("--ocr", type=int, default=None, help="QR-less photos for the OCR figure")
    parser.add_argument(
        "--ocr-seed",
        type=int,
        default=OCR_SEEDS,
        help=f"first seed of the OCR photos (default {OCR_SEEDS}; a higher one: fresh photos)",
    )
    parser.add_argument("--json", help="also write one JSON line per photo measured here")
    parser.add_argument(
        "--synth-version",
        type=int,
        default=None,
        help="measure an older photo set (its photos must be in the cache; default: current)",
    )
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--cache", default=os.environ.get("FAPIAO_BENCH_CACHE", "/tmp/fapiao-bench-decode")
    )
    args = parser.parse_args(argv)
    from ocr.synth._photo import CATEGORIES, SIZES, SYNTH_VERSION
    from ocr.synth._render import font_path

    sizes = [x for x in args.sizes.split(",") if x]
    libraries = tuple(x for x in args.libraries.split(",") if x)
    split_names = [x for x in args.splits.split(",") if x]
    categories = tuple(c for c in args.categories.split(",") if c) or CATEGORIES
    for what, given, known in (
        ("sizes", sizes, SIZES),
        ("libraries", libraries, LIBRARIES),
        ("splits", split_names, SPLITS),
        ("categories", categories, CATEGORIES),
    ):
        unknown = set(given) - set(known)
        if unknown:
            parser.error(
                f"unknown {what}: {', '.join(sorted(unknown))} (known: {', '.join(known)})"
            )
    splits = {s: args.tune_from if s == "tune" else SPLITS[s] for s in split_names}
    if font_path() is None:
        print("no CJK font (Debian fonts-noto-cjk): cannot render invoices")
        return 2
    version = args.synth_version or SYNTH_VERSION
    n = 3 if args.quick else args.per_category
    if "tune" in splits and not 0 <= args.tune_from <= SPLITS["held-out"] - n:
        parser.error(
            f"--tune-from {args.tune_from}: tuning seeds must lie in 0..{SPLITS['held-out'] - 1}"
            " (the held-out split starts there)"
        )
    n_ocr = args.ocr if args.ocr is not None else (3 if args.quick else 12)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [
        (cache, split, base + i, category, size, True, version)
        for size in sizes
        for split, base in splits.items()
        for category in categories
        for i in range(n)
    ]
    ocr_jobs = [
        (
            cache,
            "ocr",
            args.ocr_seed + i,
            OCR_CATEGORIES[i % len(OCR_CATEGORIES)],
            "12mp",
            False,
            SYNTH_VERSION,
        )
        for i in range(n_ocr)
    ]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_pin) as pool:
        made = list(pool.map(_make, jobs + ocr_jobs, chunksize=4))
        print(f"photos ready: {len(made)} in {time.perf_counter() - t0:.0f} s (cache {cache})")
        budget = args.budget_ms / 1000
        measured = list(
            pool.map(
                _measure,
                [(p, e, budget, args.alone_limit_s, libraries) for p, e in made[: len(jobs)]],
                chunksize=2,
            )
        )
        ocr_marks = list(pool.map(_ocr_one, made[len(jobs) :])) if n_ocr else []
    from ocr._readers import zbar_available

    print(
        f"bench_decode {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {n} photos per "
        f"category and split (tuning seeds {args.tune_from}-{args.tune_from + n - 1}); "
        f"synth v{version}; cascade budget {args.budget_ms} ms; "
        f"one core per worker; pyzbar {'on' if zbar_available() else 'OFF'}; "
        f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores"
    )
    if args.json:
        import json

        with open(args.json, "w", encoding="utf-8") as out:
            for job, m in zip(jobs, measured, strict=True):
                _, split, seed, category, size, *_ = job
                row = {"size": size, "split": split, "category": category, "seed": seed}
                out.write(json.dumps(row | {k: list(v) for k, v in m.items()}) + "\n")
    table: dict[tuple[str, str, str], list[dict[str, tuple[bool, float, str, float]]]] = (
        defaultdict(list)
    )
    for job, m in zip(jobs, measured, strict=True):
        _, split, _, category, size, *_ = job
        table[(size, split, category)].append(m)
        table[(size, split, "ALL")].append(m)
    methods = ("cascade", *libraries)
    for size in sizes if n else ():
        for split in splits:
            print(f"\n== {size} {split} == rate% / median / p95 (CPU ms, one core)")
            print(f"{'category':12s} " + " ".join(f"{m:>22s}" for m in methods) + "  best-single")
            for category in (*categories, "ALL"):
                rows = table[(size, split, category)]
                cells = []
                rates = {}
                for m in methods:
                    oks = [r[m][0] for r in rows]
                    times = [r[m][1] for r in rows]
                    rates[m] = sum(oks) / max(1, len(oks))
                    cells.append(f"{_pct(oks)} {_ms(times, 0.5)} {_ms(times, 0.95)}")
                best = max(libraries, key=lambda m: rates[m]) if libraries else "cascade"
                flag = "" if rates["cascade"] > rates[best] or rates["cascade"] == 1.0 else " <="
                print(f"{category:12s} " + " ".join(f"{c:>22s}" for c in cells) + f"  {best}{flag}")
    from ocr._cascade import STAGES

    for size in sizes if n else ():
        which = ", ".join(splits)
        print(f"\n== {size}: photos read, by the cascade stage that read them ({which}) ==")
        names = [name for name, _ in STAGES]
        widths = [max(8, len(s)) for s in names]
        print(
            f"{'category':12s} "
            + " ".join(f"{s:>{w}s}" for s, w in zip(names, widths, strict=True))
            + "   missed"
        )
        for category in (*categories, "ALL"):
            rows = [r for split in splits for r in table[(size, split, category)]]
            by: defaultdict[str, int] = defaultdict(int)
            for r in rows:
                by[r["cascade"][2] if r["cascade"][0] else "missed"] += 1
            print(
                f"{category:12s} "
                + " ".join(f"{by[s]:{w}d}" for s, w in zip(names, widths, strict=True))
                + f" {by['missed']:8d}"
            )
    for size in sizes if n and "tune" in splits else ():
        missed = missed_tuning(jobs, measured, size)
        print(f"\n{size} tune missed by the cascade ({len(missed)}): {' '.join(missed) or '-'}")
    if ocr_marks:
        print(
            f"\n== OCR fallback, QR left out: {len(ocr_marks)} 12 MP photos, seeds "
            f"{args.ocr_seed}-{args.ocr_seed + len(ocr_marks) - 1} ({', '.join(OCR_CATEGORIES)}) =="
        )
        for f in ("code", "number", "issue_date", "amount", "check_code", "all"):
            print(f"{f:12s} {_pct([m[f] for m in ocr_marks])}")
        wrong = [f"{j[3]}-{j[2]}" for j, m in zip(ocr_jobs, ocr_marks, strict=True) if not m["all"]]
        print(f"not every field right: {' '.join(wrong) or '-'}")
    for size in sizes if n else ():
        walls = [r["cascade"][3] for split in splits for r in table[(size, split, "ALL")]]
        print(
            f"cascade {size}, wall clock under this load: median {_ms(walls, 0.5)} ms, "
            f"p95 {_ms(walls, 0.95)} ms"
        )
    print(f"\nwall {time.perf_counter() - t0:.0f} s")
    return 0


def missed_tuning(
    jobs: list[tuple[Any, ...]], measured: list[dict[str, tuple[Any, ...]]], size: str
) -> list[str]:
    """``category-seed`` of the tuning photos of ``size`` the cascade did not read.
    Held-out photos are never named: their ids must not be looked at."""
    return [
        f"{job[3]}-{job[2]}"
        for job, m in zip(jobs, measured, strict=True)
        if job[1] == "tune" and job[4] == size and not m["cascade"][0]
    ]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
