"""/metrics with several workers: one scrape reports the whole host.

``fapiao serve --workers N`` needs a ClickHouse server (embedded chDB allows one
process), which this machine does not have, so the workers here are real OS processes
that each build the app's ``Metrics`` on the host's directory and count, beside the app
itself (one more worker, on real Redis and chDB) whose real ``/metrics`` route answers.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api._metrics import Metrics, _SharedFiles, metrics_dir, reset_metrics_dir
from tests.api.support import ordinary

REPO = Path(__file__).resolve().parents[2]
QR = "01,10,044001500111,81966722,173.79,{date},17884534745749991611,BE2D"
VERIFY = '{route="/api/v1/verify"}'

# A worker: builds Metrics on the shared directory, counts what its spec says (through
# the same calls the service makes), publishes as the periodic task does, then either
# stays alive until told, exits at once (as if killed: no clean shutdown), or closes.
WORKER = r"""
import json, os, sys
from pathlib import Path
from api._metrics import Metrics

spec = json.loads(sys.argv[1])
m = Metrics(Path(spec["dir"]))
for code, n in spec.get("results", {}).items():
    for _ in range(n):
        m.result(code, "api")
for how, n in spec.get("lookups", {}).items():
    for _ in range(n):
        m.lookup(how)
for _ in range(spec.get("requests", 0)):
    m.request("/api/v1/verify", "POST", 200, 0.003)
for seconds in spec.get("store", []):
    m.store_seconds(seconds)
m.recorder_pending.set(spec.get("pending", 0))
m.cache_state.set(spec.get("degraded", 0))
m.batch_totals = tuple(spec.get("batches", (0, 0)))
m.publish()
print("published", flush=True)
if spec["end"] == "stay":
    sys.stdin.readline()
    m.close()
elif spec["end"] == "close":
    m.close()
else:
    os._exit(0)
"""


def worker(directory: Path, end: str, **spec: Any) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps({"dir": str(directory), "end": end, **spec})],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "published"
    if end != "stay":
        assert proc.wait(30) == 0  # reaped: its pid no longer runs
    return proc


def values(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, labels sorted as the exposition writes them."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def host(directory: Path) -> dict[str, float]:
    """The host's figures as a scrape merges them, without publishing anything."""
    return values(generate_latest(_SharedFiles(directory).host_registry).decode())


async def test_one_scrape_sums_every_worker_of_the_host(
    make_client: Any, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.insert_invoices([ordinary()])
    shared = tmp_path / "metrics"
    assert metrics_dir(tmp_path, 2) == shared.resolve()
    qr = QR.format(date=ordinary().issue_date.strftime("%Y%m%d"))
    # the recorder holds the app's events for the whole test: its pending count is known
    monkeypatch.setenv("FAPIAO_RECORD_INTERVAL", "3600")  # read from the environment
    async with make_client(FAPIAO_WORKERS="2") as client:
        assert client.app.state.metrics.shared is not None
        for _ in range(2):  # a miss, then a hit
            assert (await client.post("/api/v1/verify", json={"qr": qr})).status_code == 200
        alive = worker(
            shared,
            "stay",
            results={"001": 3, "006": 1},
            lookups={"hit": 3, "miss": 1},
            requests=4,
            store=[0.002],
            pending=7,
            degraded=1,
            batches=(30, 10),
        )
        # exits without a clean shutdown: its counters count, its gauges do not
        worker(
            shared,
            "exit",
            results={"001": 5},
            lookups={"hit": 5},
            requests=5,
            pending=40,
            degraded=1,
            batches=(10, 10),
        )
        worker(shared, "close", results={"002": 2}, lookups={"negative": 2}, pending=500)
        try:
            got = values((await client.get("/metrics")).text)
            batcher = client.app.state.services.verifier._batcher
            app_batches = (batcher.items, batcher.batches)
            # a worker that starts later (a restarted one): the counters go on from there
            worker(shared, "exit", results={"001": 1}, requests=1)
            again = values((await client.get("/metrics")).text)
        finally:
            assert alive.stdin is not None
            alive.stdin.write("\n")
            alive.stdin.close()
            assert alive.wait(30) == 0

    posts = 'fapiao_http_requests_total{method="POST",route="/api/v1/verify",status="200"}'
    bucket = 'fapiao_http_request_seconds_bucket{{le="{}",route="/api/v1/verify"}}'
    items, trips = app_batches
    expected = {
        'fapiao_verify_results_total{channel="api",code="001"}': 2 + 3 + 5,
        'fapiao_verify_results_total{channel="api",code="006"}': 1,
        'fapiao_verify_results_total{channel="api",code="002"}': 2,
        'fapiao_cache_lookups_total{how="hit"}': 1 + 3 + 5,
        'fapiao_cache_lookups_total{how="miss"}': 1 + 1,
        'fapiao_cache_lookups_total{how="negative"}': 2,
        "fapiao_cache_hit_ratio": (9 + 2) / 13,
        posts: 2 + 4 + 5,
        f"fapiao_http_request_seconds_count{VERIFY}": 11,
        bucket.format("+Inf"): 11,
        "fapiao_store_lookup_seconds_count": 1 + 1,
        # gauges of the live workers only: the app (2 events held, Redis up) and the one
        # staying; not those of the one that exited nor of the one that closed
        "fapiao_recorder_pending": 2 + 7,
        "fapiao_cache_degraded": 1,
        "fapiao_cache_batch_size": (items + 30 + 10) / (trips + 10 + 10),
    }
    assert {k: got.get(k) for k in expected} == expected
    assert got[bucket.format("0.005")] - got[bucket.format("0.0025")] >= 9  # the workers' 3 ms
    # each figure once, however many workers: no pid label, no per-worker series
    assert not [k for k in got if "pid=" in k]

    assert again['fapiao_verify_results_total{channel="api",code="001"}'] == 11
    assert again[posts] == 12
    assert again["fapiao_recorder_pending"] == 2 + 7

    # every worker gone (the app shut down cleanly, the last one closed): counters stay,
    # no live gauge is left
    after = host(shared)
    assert after['fapiao_verify_results_total{channel="api",code="001"}'] == 11
    assert glob.glob(str(shared / "gauge_*")) == []
    assert "fapiao_recorder_pending" not in after


async def test_each_worker_publishes_on_its_own_without_being_scraped(
    make_client: Any, store: Any, tmp_path: Path
) -> None:
    """The app's per-verification counts are plain ints folded when scraped: with several
    workers a worker nobody scrapes must still publish them (here: at its shutdown)."""
    store.insert_invoices([ordinary()])
    qr = QR.format(date=ordinary().issue_date.strftime("%Y%m%d"))
    async with make_client(FAPIAO_WORKERS="3") as client:
        await client.post("/api/v1/verify", json={"qr": qr})
        await client.post("/api/v1/verify", json={"qr": "not a qr"})
    # its counter file, named by its pid, stays in the host's directory
    assert glob.glob(str(tmp_path / "metrics" / f"counter_{os.getpid()}.db"))
    got = host(tmp_path / "metrics")
    assert got['fapiao_verify_results_total{channel="api",code="001"}'] == 1
    assert got['fapiao_cache_lookups_total{how="miss"}'] == 1
    assert sum(v for k, v in got.items() if k.startswith("fapiao_http_requests_total")) == 2


async def test_one_worker_keeps_its_own_registry_and_writes_no_files(
    make_client: Any, store: Any, tmp_path: Path
) -> None:
    store.insert_invoices([ordinary()])
    qr = QR.format(date=ordinary().issue_date.strftime("%Y%m%d"))
    async with make_client() as client:
        assert client.app.state.metrics.shared is None
        await client.post("/api/v1/verify", json={"qr": qr})
        text = (await client.get("/metrics")).text
    assert 'fapiao_verify_results_total{channel="api",code="001"} 1.0' in text
    assert "fapiao_verify_results_created" in text  # the in-process registry's own output
    assert not (tmp_path / "metrics").exists()
    assert metrics_dir(tmp_path, 1) is None


def test_the_serving_parent_starts_the_host_from_zero(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    worker(shared, "close", results={"001": 4})
    assert host(shared)['fapiao_verify_results_total{channel="api",code="001"}'] == 4
    reset_metrics_dir(shared)
    assert list(shared.iterdir()) == []
    worker(shared, "close", results={"001": 1})
    assert host(shared)['fapiao_verify_results_total{channel="api",code="001"}'] == 1


def test_two_metrics_of_one_process_without_a_directory_stay_apart() -> None:
    """Tests build many apps in one process: one registry per app, no shared state."""
    a, b = Metrics(), Metrics()
    a.result("001", "api")
    b.result("006", "api")
    text_a, text_b = a.render().decode(), b.render().decode()
    assert 'code="001"' in text_a
    assert 'code="006"' not in text_a
    assert 'code="006"' in text_b
    assert 'code="001"' not in text_b
