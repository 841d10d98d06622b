"""Decodes keep BLAS at one thread, also several at once in worker threads (the
API's executor). Extra BLAS threads beside each decoding thread only oversubscribe
the cores. threadpoolctl's limit is process-wide and only the first thread that
sets it controls it (others' calls are ignored): entered and left around each
forward solve, it held only while that first worker was inside a solve, and every
other worker's solves ran on every BLAS thread.

Run in a fresh interpreter: which thread controls BLAS is process state that the
other tests' decodes (in the main thread) would have taken."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = """
import json, sys, threading, time
from threadpoolctl import threadpool_info, threadpool_limits
from ocr import decode_bytes

def blas():
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

raise_to_two = threading.Thread(target=threadpool_limits, kwargs={"limits": 2, "user_api": "blas"})
raise_to_two.start()
raise_to_two.join()  # something else raised it; that thread is gone
before = blas()
results = []
started = threading.Barrier(3)

def decode(path):
    data = open(path, "rb").read()
    started.wait()
    results.append(len(decode_bytes(data, qr_budget_s=None, allow_ocr=False).invoices))

workers = [threading.Thread(target=decode, args=(p,)) for p in sys.argv[1:]]
for w in workers:
    w.start()
started.wait()
while blas() != {1} and any(w.is_alive() for w in workers):
    time.sleep(0.001)  # until the first cascade has set it
seen = set()
while any(w.is_alive() for w in workers):
    seen |= blas()
    time.sleep(0.002)
for w in workers:
    w.join()
print(json.dumps({"before": sorted(before), "seen": sorted(seen), "after": sorted(blas()),
                  "invoices": sorted(results)}))
"""


def test_concurrent_decodes_in_worker_threads_run_blas_on_one_thread(photos, tmp_path):
    """Two photos the forward solve reads (2 MP multi-22 and multi-21 of the tuning
    split: two and three invoices), decoded at once in two worker threads after BLAS was
    raised to two threads: once the first cascade has limited BLAS to one thread, it
    stays so while both run and after."""
    paths = []
    for seed in (22, 21):
        path = tmp_path / f"multi-{seed}.jpg"
        path.write_bytes(photos(seed, "multi").data)
        paths.append(str(path))
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    if report["before"] != [2]:
        pytest.skip(f"BLAS cannot run two threads here: {report['before']}")
    assert report["invoices"] == [2, 3]
    assert report["seen"] == [1]
    assert report["after"] == [1]
